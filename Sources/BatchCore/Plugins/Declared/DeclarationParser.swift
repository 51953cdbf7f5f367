import Glibc
import TOMLKit

/// Reads a declaration file into a `Declaration` and checks everything that
/// can be checked without the library: fields, types, argument sources and
/// how they fit together. Every error names the file and the field, says what
/// was wrong and what would be right:
/// `crc32.toml: process.args[1].from: unknown source 'bytez'; expected one of …`.
enum DeclarationParser {
    /// The output buffer's size when a `buffer` argument gives no `capacity`.
    static let defaultBufferCapacity = 4096
    /// The largest output buffer a declaration may ask for.
    static let maxBufferCapacity = 1 << 30

    static func parse(file: String) throws -> Declaration {
        let text: String
        do {
            text = String(decoding: try readWholeFile(file), as: UTF8.self)
        } catch {
            throw BatchCoreError(.plugin, "cannot read declaration '\(file)': \(errnoText(error.code))")
        }
        return try parse(text: text, file: file)
    }

    static func parse(text: String, file: String) throws -> Declaration {
        let root: TOMLTable
        do {
            root = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            let at = error.source.begin
            throw BatchCoreError(.plugin, "\(file):\(at.line):\(at.column): not valid TOML: \(error.description)")
        }
        let top = DeclarationFields(table: root, path: "", file: file)
        try top.allowOnly(["name", "version", "description", "library", "thread_safe", "init", "process", "cleanup"])

        let name = try top.string("name") ?? defaultName(for: file)
        guard !name.isEmpty, !name.utf8.contains(UInt8(ascii: "/")) else {
            throw top.error("name", "'\(name)' is not a usable processor name; use letters, digits, '-' or '_'")
        }
        guard let library = try top.string("library"), !library.isEmpty else {
            throw top.error("library", "missing; name the shared library by soname or path, e.g. library = \"libz.so.1\"")
        }

        let initTables = try top.tableOrTables("init")
        var initCalls: [CallDeclaration] = []
        for (index, fields) in initTables.enumerated() {
            initCalls.append(try parseCall(fields, role: index == 0 ? .createHandle : .setUpHandle))
        }
        let hasHandle = !initCalls.isEmpty

        guard let processFields = try top.table("process") else {
            throw top.error("process", "missing; add a [process] table naming the function called per document")
        }
        var process = try parseCall(processFields, role: .process(hasHandle: hasHandle))
        let output = try parseOutput(processFields, call: process)
        // A string result the output needs cannot be NULL even when the file
        // does not say so.
        if output == .string && process.failsIf == nil { process.failsIf = .null }

        var cleanup: CallDeclaration? = nil
        if let fields = try top.table("cleanup") {
            guard hasHandle else {
                throw top.error("cleanup", "there is no handle to clean up: add [[init]] calls that create one, or remove [cleanup]")
            }
            cleanup = try parseCall(fields, role: .cleanup)
        }

        let description = try top.string("description") ?? "\(process.function)() from \(library) (declared)"
        return Declaration(
            file: file,
            name: name,
            version: try top.string("version") ?? "",
            description: description,
            library: library,
            threadSafe: try top.bool("thread_safe") ?? false,
            initCalls: initCalls,
            process: process,
            output: output,
            cleanup: cleanup)
    }

    /// `plugins/crc32.toml` is named `crc32`.
    static func defaultName(for file: String) -> String {
        let base = lastPathComponent(file)
        return base.droppingByteSuffix(".toml") ?? base
    }

    // MARK: Calls

    enum Role {
        case createHandle, setUpHandle, cleanup
        case process(hasHandle: Bool)

        var isProcess: Bool { if case .process = self { true } else { false } }
        var hasHandle: Bool {
            switch self {
            case .createHandle: false
            case .setUpHandle, .cleanup: true
            case .process(let hasHandle): hasHandle
            }
        }
    }

    private static func parseCall(_ f: DeclarationFields, role: Role) throws -> CallDeclaration {
        var known = ["function", "returns", "args", "fails_if", "error_message"]
        if role.isProcess { known.append("output") }
        try f.allowOnly(known)

        guard let function = try f.string("function"), !function.isEmpty else {
            throw f.error("function", "missing; name the C function to call, e.g. function = \"crc32\"")
        }
        let returns = try f.string("returns").map { try type(named: $0, f, "returns") } ?? CType.named("void")!

        switch role {
        case .createHandle:
            guard returns.kind == .handle else {
                throw f.error("returns", "the first init call creates the handle, so it must return it: returns = \"handle\" (not \(returns))")
            }
        default:
            if returns.kind == .handle {
                throw f.error("returns", "only the first init call returns the handle; declare this result as \"pointer\" or another type")
            }
        }

        var args: [ArgumentDeclaration] = []
        if let list = try f.tables("args") {
            for (index, argFields) in list.enumerated() {
                args.append(try parseArgument(argFields, index: index, role: role))
            }
        } else if case .cleanup = role {
            args = [ArgumentDeclaration(type: CType.named("handle")!, source: .handle)]
        }
        try checkArgumentsFitTogether(args, f)

        let failsIf = try parseFailure(f, returns: returns)
        var errorMessage: ErrorMessageSource? = nil
        if let text = try f.string("error_message") {
            if text.isEmpty {
                throw f.error("error_message", "empty; name a function such as \"magic_error\", or use \"\(ErrorMessageSource.errnoSpelling)\"")
            }
            errorMessage = text == ErrorMessageSource.errnoSpelling ? .errno : .function(text)
            if failsIf == nil {
                throw f.error("error_message", "is only used when the call fails: also set fails_if (e.g. fails_if = -1 or \"null\")")
            }
            if case .createHandle = role, errorMessage != .errno {
                throw f.error("error_message", "this call creates the handle, so there is no handle to ask for a message when it fails; use \"\(ErrorMessageSource.errnoSpelling)\" or remove error_message")
            }
        }
        return CallDeclaration(field: f.path, function: function, returns: returns, args: args,
                               failsIf: failsIf, errorMessage: errorMessage)
    }

    /// Sources that belong to another argument must have it, and appear once.
    private static func checkArgumentsFitTogether(_ args: [ArgumentDeclaration], _ f: DeclarationFields) throws {
        func indices(_ tag: ArgumentSource.Tag) -> [Int] {
            args.indices.filter { args[$0].source.tag == tag }
        }
        for tag in [ArgumentSource.Tag.buffer, .written] where indices(tag).count > 1 {
            let second = indices(tag)[1]
            throw f.error("args[\(second)].from", "a call takes at most one '\(tag.rawValue)' argument (args[\(indices(tag)[0])] is one already)")
        }
        if indices(.buffer).isEmpty {
            for tag in [ArgumentSource.Tag.capacity, .written] {
                if let index = indices(tag).first {
                    throw f.error("args[\(index)].from", "source '\(tag.rawValue)' describes the output buffer, but no argument has from = \"buffer\"")
                }
            }
        }
        if case .buffer(let capacity) = args.first(where: { $0.source.tag == .buffer })?.source,
           let index = indices(.capacity).first, !args[index].type.holds(UInt64(capacity)) {
            throw f.error("args[\(index)].type", "the buffer's capacity \(capacity) does not fit in \(args[index].type) (\(args[index].type.integerRangeText))")
        }
    }

    private static func parseFailure(_ f: DeclarationFields, returns: CType) throws -> FailureCondition? {
        guard let raw = f.value("fails_if") else { return nil }
        if returns.kind == .void {
            throw f.error("fails_if", "the function returns void, so no return value can mean failure; remove fails_if or declare returns")
        }
        if let value = raw.int {
            guard returns.isInteger else {
                throw f.error("fails_if", "an integer error value needs an integer return type, not \(returns); for pointers use \"null\"")
            }
            // Values are compared as bit patterns of the return type's width,
            // so -1 also names (size_t)-1 and 0xFFFFFFFF also names (int)-1.
            let unusedBits = 64 - returns.size * 8
            let fits = Int64(value) >= Int64.min >> unusedBits && (value < 0 || UInt64(value) <= UInt64.max >> unusedBits)
            guard fits else {
                throw f.error("fails_if", "\(value) cannot be returned by \(returns) (\(returns.integerRangeText))")
            }
            return .equals(Int64(value))
        }
        guard let word = raw.string else {
            throw f.error("fails_if", "expected an integer error value or one of \"null\", \"negative\", \"zero\", \"nonzero\"; got \(describe(raw))")
        }
        switch word {
        case "null":
            guard returns.isPointerLike else {
                throw f.error("fails_if", "\"null\" needs a pointer or string return type, not \(returns)")
            }
            return .null
        case "negative":
            guard returns.kind == .signedInteger else {
                throw f.error("fails_if", "\"negative\" needs a signed integer return type, not \(returns)")
            }
            return .negative
        case "zero", "nonzero":
            guard returns.isInteger else {
                throw f.error("fails_if", "\"\(word)\" needs an integer return type, not \(returns)")
            }
            return word == "zero" ? .zero : .nonzero
        default:
            throw f.error("fails_if", "unknown condition '\(word)'; expected an integer error value or one of \"null\", \"negative\", \"zero\", \"nonzero\"")
        }
    }

    // MARK: Helpers

    static let sourceList = ArgumentSource.Tag.allCases.map(\.rawValue).joined(separator: ", ")

    static func type(named name: String, _ f: DeclarationFields, _ key: String) throws -> CType {
        guard let type = CType.named(name) else {
            throw f.error(key, "unknown type '\(name)'\(suggestion(name, CType.canonicalNames)); expected one of \(CType.canonicalNames.joined(separator: ", ")) (or a <stdint.h> name such as uint32_t)")
        }
        return type
    }

    static func suggestion(_ word: String, _ known: [String]) -> String {
        guard let near = known.min(by: { editDistance($0, word) < editDistance($1, word) }),
              editDistance(near, word) <= max(2, word.count / 3) else { return "" }
        return " (did you mean '\(near)'?)"
    }

    static func describe(_ value: TOMLValueConvertible) -> String {
        switch value.type {
        case .string: "a string"
        case .int: "an integer"
        case .double: "a float"
        case .bool: "a boolean"
        case .table: "a table"
        case .array: "an array"
        case .date, .time, .dateTime: "a date or time"
        }
    }
}
