import FoundationEssentials

/// A parsed JSON value, used for manifests, metadata and validating JSON output.
public enum JSONValue: Codable, Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let n): try c.encode(n)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    /// Parses JSON text; throws a decoding error on malformed input.
    public static func parse<Bytes: Collection<UInt8>>(_ bytes: Bytes) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(bytes))
    }

    /// Compact JSON text for this value.
    public var text: String {
        let data = (try? JSONEncoder().encode(self)) ?? Data("null".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

/// Appends `s` to `out` as a JSON string literal (with quotes).
public func appendJSONString(_ s: String, to out: inout [UInt8]) {
    out.append(UInt8(ascii: "\""))
    appendJSONEscaped(s.utf8, to: &out)
    out.append(UInt8(ascii: "\""))
}

/// Appends a document's id or path as a JSON string literal: the bytes of a
/// name that is not UTF-8 (see `FileNameBytes`) are written `\udc80` to
/// `\udcff`, as Python's surrogateescape does, so that the exact bytes can
/// be recovered (`os.fsencode(json.loads(line)["path"])`).
public func appendJSONFileName(_ s: String, to out: inout [UInt8]) {
    guard s.utf8.contains(0xEE) else { return appendJSONString(s, to: &out) }
    let hex = Array("0123456789abcdef".utf8)
    out.append(UInt8(ascii: "\""))
    for scalar in s.unicodeScalars {
        if let byte = FileNameBytes.escapedByte(scalar) {
            out.append(contentsOf: Array("\\udc".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 15)]])
        } else {
            appendJSONEscaped(String(scalar).utf8, to: &out)
        }
    }
    out.append(UInt8(ascii: "\""))
}

private func appendJSONEscaped(_ utf8: String.UTF8View, to out: inout [UInt8]) {
    for byte in utf8 {
        switch byte {
        case UInt8(ascii: "\""): out.append(contentsOf: [92, 34])
        case UInt8(ascii: "\\"): out.append(contentsOf: [92, 92])
        case 0x0A: out.append(contentsOf: [92, 110])
        case 0x0D: out.append(contentsOf: [92, 114])
        case 0x09: out.append(contentsOf: [92, 116])
        case 0..<0x20:
            let hex = Array("0123456789abcdef".utf8)
            out.append(contentsOf: [92, 117, 48, 48, hex[Int(byte >> 4)], hex[Int(byte & 15)]])
        default: out.append(byte)
        }
    }
}
