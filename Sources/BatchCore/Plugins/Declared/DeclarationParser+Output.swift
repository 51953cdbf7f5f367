import TOMLKit

/// `process.output`: how the result of the process call becomes the
/// document's output — the returned number or string, or the output buffer.
extension DeclarationParser {
    static func parseOutput(_ process: DeclarationFields, call: CallDeclaration) throws -> OutputDeclaration {
        guard let f = try process.table("output") else {
            throw process.error("output", "missing; say how the result becomes the output, e.g. output = { from = \"return\", format = \"decimal\" } or output = { from = \"buffer\" }")
        }
        try f.allowOnly(["from", "format", "width", "length"])
        guard let from = try f.string("from") else {
            throw f.error("from", "missing; expected \"return\" (the returned number or string) or \"buffer\" (the output buffer argument)")
        }
        switch from {
        case "return": return try returnedOutput(f, call: call)
        case "buffer": return try bufferOutput(f, call: call)
        default: throw f.error("from", "unknown output source '\(from)'; expected \"return\" or \"buffer\"")
        }
    }

    private static func returnedOutput(_ f: DeclarationFields, call: CallDeclaration) throws -> OutputDeclaration {
        if f.has("length") { throw f.error("length", "only an output from = \"buffer\" has a length") }
        switch call.returns.kind {
        case .string:
            if f.has("format") || f.has("width") {
                throw f.error(f.has("format") ? "format" : "width", "a returned string is output as it is; format and width are for numbers")
            }
            return .string
        case .signedInteger, .unsignedInteger, .float, .double:
            return .number(try numberFormat(f, returns: call.returns))
        case .void, .pointer, .handle:
            throw f.error("from", "'return' needs a number or string result, but process returns \(call.returns); declare returns = \"string\" or an integer type, or use from = \"buffer\"")
        }
    }

    private static func numberFormat(_ f: DeclarationFields, returns: CType) throws -> OutputDeclaration.NumberFormat {
        let format = try f.string("format") ?? "decimal"
        let width = try f.int("width")
        switch format {
        case "decimal":
            if width != nil { throw f.error("width", "width pads hex output; remove it or use format = \"hex\"") }
            return .decimal
        case "hex":
            guard returns.isInteger else {
                throw f.error("format", "hex needs an integer return type, not \(returns)")
            }
            let digits = width ?? 1
            guard (1...32).contains(digits) else {
                throw f.error("width", "\(digits) is out of range; expected 1 to 32 hex digits")
            }
            return .hex(width: digits)
        default:
            throw f.error("format", "unknown format '\(format)'; expected \"decimal\" or \"hex\"")
        }
    }

    private static func bufferOutput(_ f: DeclarationFields, call: CallDeclaration) throws -> OutputDeclaration {
        guard call.index(of: .buffer) != nil else {
            throw f.error("from", "'buffer' needs an argument with from = \"buffer\" in process.args")
        }
        if f.has("format") || f.has("width") {
            throw f.error(f.has("format") ? "format" : "width", "the buffer is output as it is; format and width are for returned numbers")
        }
        switch try f.string("length") ?? "nul" {
        case "nul":
            return .buffer(.nulTerminated)
        case "return":
            guard call.returns.isInteger else {
                throw f.error("length", "\"return\" needs an integer return type holding the byte count, not \(call.returns)")
            }
            return .buffer(.returned)
        case "written":
            guard call.index(of: .written) != nil else {
                throw f.error("length", "\"written\" needs an argument with from = \"written\" in process.args")
            }
            return .buffer(.written)
        case let other:
            throw f.error("length", "unknown length '\(other)'; expected \"nul\" (up to the first NUL byte), \"return\" or \"written\"")
        }
    }
}
