/// A declared processor as its TOML file describes it: a shared library and
/// the C functions to call, with where each argument comes from and what the
/// result means. Built by `DeclarationParser`, checked against the library
/// by `DeclaredProcessor`. See docs/declared-processors.md.
struct Declaration: Sendable {
    /// The declaration file, as given (messages name it).
    var file: String
    var name: String
    var version: String
    var description: String
    /// A soname (`libz.so.1`, found by the dynamic loader) or a path.
    var library: String
    /// True when one handle (or none) may be used by many threads at once.
    var threadSafe: Bool
    /// Calls that create the handle: the first returns it, the others set it up.
    var initCalls: [CallDeclaration]
    var process: CallDeclaration
    var output: OutputDeclaration
    var cleanup: CallDeclaration?

    var hasHandle: Bool { !initCalls.isEmpty }

    /// An error about `field` of this file: "crc32.toml: process.function: …".
    func error(_ field: String, _ message: String) -> BatchCoreError {
        BatchCoreError(.plugin, "\(file): \(field): \(message)")
    }
}

/// One C function to call, and how to read its result.
struct CallDeclaration: Sendable {
    /// Where the call sits in the file, e.g. `init[1]` or `process`.
    var field: String
    var function: String
    var returns: CType
    var args: [ArgumentDeclaration]
    var failsIf: FailureCondition?
    /// Where the library's own message comes from after a failure.
    var errorMessage: ErrorMessageSource?

    /// The argument with `source`, if any.
    func index(of source: ArgumentSource.Tag) -> Int? {
        args.firstIndex { $0.source.tag == source }
    }
}

struct ArgumentDeclaration: Sendable {
    var type: CType
    var source: ArgumentSource
}

/// Where an argument's value comes from.
enum ArgumentSource: Sendable, Equatable {
    /// The document's bytes: the previous stage's output, else the file's content.
    case bytes
    /// How many bytes `bytes` points to.
    case length
    /// The document's path as a C string.
    case path
    /// The document's id as a C string.
    case id
    /// The handle made by `init`.
    case handle
    /// A fixed value.
    case constant(Constant)
    /// A NULL pointer.
    case null
    /// A zero-filled output buffer of `capacity` bytes.
    case buffer(capacity: Int)
    /// The capacity of the `buffer` argument.
    case capacity
    /// A pointer to a `size_t` the function sets to the bytes it wrote to `buffer`.
    case written

    enum Constant: Sendable, Equatable {
        case integer(Int64)
        case float(Double)
        case string(String)
    }

    /// The source without its parameters, as the file spells it.
    enum Tag: String, Sendable, CaseIterable {
        case bytes, length, path, id, handle
        case constant = "const"
        case null, buffer, capacity, written
    }

    var tag: Tag {
        switch self {
        case .bytes: .bytes
        case .length: .length
        case .path: .path
        case .id: .id
        case .handle: .handle
        case .constant: .constant
        case .null: .null
        case .buffer: .buffer
        case .capacity: .capacity
        case .written: .written
        }
    }
}

/// Where the text of a failure comes from.
enum ErrorMessageSource: Sendable, Equatable {
    /// `const char *fn(handle)` (or `fn(void)` without a handle).
    case function(String)
    /// `strerror(errno)`, with errno as the call left it.
    case errno

    /// How a declaration spells `.errno`; no C function can have this name.
    static let errnoSpelling = "strerror(errno)"
}

/// A return value that means the call failed.
enum FailureCondition: Sendable, Equatable {
    /// A NULL pointer or string.
    case null
    /// A negative signed integer.
    case negative
    case zero
    case nonzero
    /// Exactly this value (compared in the return type's width, so -1 also
    /// matches `(size_t)-1`).
    case equals(Int64)
}

/// How a successful process call becomes the document's output.
enum OutputDeclaration: Sendable, Equatable {
    /// The returned number, in decimal or zero-padded lowercase hex.
    case number(NumberFormat)
    /// The returned C string.
    case string
    /// The output buffer's contents.
    case buffer(BufferLength)

    enum NumberFormat: Sendable, Equatable {
        case decimal
        case hex(width: Int)
    }

    enum BufferLength: Sendable, Equatable {
        /// Up to the first NUL byte (or the whole buffer when there is none).
        case nulTerminated
        /// The return value is the number of bytes written.
        case returned
        /// The `written` argument holds the number of bytes written.
        case written
    }
}
