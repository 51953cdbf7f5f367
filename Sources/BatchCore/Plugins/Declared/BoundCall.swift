import Glibc

/// What a call's arguments are taken from.
struct CallInputs {
    var handle: UnsafeMutableRawPointer? = nil
    var bytes: UnsafeRawPointer? = nil
    var length = 0
    var path: UnsafePointer<CChar>? = nil
    var id: UnsafePointer<CChar>? = nil
    var buffer: UnsafeMutableRawPointer? = nil
    var capacity = 0
    var written: UnsafeMutablePointer<Int>? = nil
}

/// A call declaration bound to its functions, with its constant strings
/// kept as C strings for the processor's lifetime.
final class BoundCall: @unchecked Sendable {  // unchecked: immutable after init: its C strings are only read while it lives
    let declaration: CallDeclaration
    let function: FFIFunction
    /// The bound error-message function, for `error_message = "fn"`.
    let errorMessage: FFIFunction?
    private let constantStrings: [Int: UnsafeMutablePointer<CChar>]

    init(declaration: CallDeclaration, function: FFIFunction, errorMessage: FFIFunction?) {
        self.declaration = declaration
        self.function = function
        self.errorMessage = errorMessage
        var strings: [Int: UnsafeMutablePointer<CChar>] = [:]
        for (index, argument) in declaration.args.enumerated() {
            if case .constant(.string(let text)) = argument.source { strings[index] = strdup(text) }
        }
        constantStrings = strings
    }

    deinit { constantStrings.values.forEach { free($0) } }

    func values(_ inputs: CallInputs) -> [CValue] {
        declaration.args.enumerated().map { index, argument in
            switch argument.source {
            case .bytes: .pointer(inputs.bytes)
            case .length: .integer(UInt64(inputs.length))
            case .path: .pointer(inputs.path.map(UnsafeRawPointer.init))
            case .id: .pointer(inputs.id.map(UnsafeRawPointer.init))
            case .handle: .pointer(inputs.handle.map(UnsafeRawPointer.init))
            case .null: .pointer(nil)
            case .constant(.integer(let value)): .signed(value)
            case .constant(.float(let value)): .floating(value)
            case .constant(.string): .pointer(UnsafeRawPointer(constantStrings[index]!))
            case .buffer: .pointer(inputs.buffer.map(UnsafeRawPointer.init))
            case .capacity: .integer(UInt64(inputs.capacity))
            case .written: .pointer(inputs.written.map(UnsafeRawPointer.init))
            }
        }
    }

    func call(values: [CValue]) -> FFIFunction.Result { function.call(values) }

    /// Whether the result is the declared error value.
    func failed(_ result: FFIFunction.Result) -> Bool {
        guard let condition = declaration.failsIf else { return false }
        let type = declaration.returns
        switch (condition, result.value) {
        case (.null, .pointer(let pointer)): return pointer == nil
        case (.negative, .integer(let bits)): return Int64(bitPattern: bits) < 0
        case (.zero, .integer(let bits)): return bits == 0
        case (.nonzero, .integer(let bits)): return bits != 0
        case (.equals(let value), .integer(let bits)): return type.normalize(UInt64(bitPattern: value)) == bits
        default: return false
        }
    }

    /// The library's own message when it has a function for it, else what
    /// was returned. Called on the failing thread right after the call, with
    /// the same handle.
    func failureMessage(_ result: FFIFunction.Result, handle: UnsafeMutableRawPointer?) -> String {
        let function = declaration.function
        let returned: String
        switch result.value {
        case .pointer: returned = "NULL"
        case .integer(let bits): returned = declaration.returns.decimal(bits)
        default: returned = "its error value"
        }
        if declaration.errorMessage == .errno {
            guard result.errno != 0 else { return "\(function)() returned \(returned) and left errno at 0" }
            return "\(function)(): \(errnoText(result.errno))"
        }
        guard let errorMessage else {
            return "\(function)() returned \(returned), its declared error value"
        }
        let arguments: [CValue] = errorMessage.parameters.isEmpty ? [] : [.pointer(handle.map(UnsafeRawPointer.init))]
        if case .pointer(let text?) = errorMessage.call(arguments).value {
            let message = String(cString: text.assumingMemoryBound(to: CChar.self))
            if !message.isEmpty { return "\(function)(): \(message)" }
        }
        return "\(function)() returned \(returned) and \(errorMessage.name)() gave no message"
    }
}
