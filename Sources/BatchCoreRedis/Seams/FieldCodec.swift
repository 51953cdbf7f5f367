/// Compact length-prefixed fields: `<length>:<bytes>` each, `-` for nil. Any
/// bytes may appear in a field (ids and paths are file names), and a reader
/// finding fewer fields than it wants takes the defaults for the rest, so a
/// new job is little more than its id, path and metadata.
struct FieldWriter {
    private(set) var bytes: [UInt8] = []

    mutating func add(_ field: [UInt8]?) {
        guard let field else { return bytes.append(UInt8(ascii: "-")) }
        bytes.append(contentsOf: Array(String(field.count).utf8))
        bytes.append(UInt8(ascii: ":"))
        bytes.append(contentsOf: field)
    }

    mutating func add(_ text: String?) { add(text.map { Array($0.utf8) }) }

    mutating func add<N: BinaryInteger>(_ number: N) { add(String(number)) }

    mutating func add(_ number: Double) { add(number == 0 ? "0" : number.description) }
}

/// Reads what `FieldWriter` wrote; past the last field every read is nil.
struct FieldReader {
    private let bytes: ArraySlice<UInt8>
    private var at: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        at = bytes.startIndex
    }

    /// Where the fields read so far end: what follows is the caller's.
    var rest: ArraySlice<UInt8> { bytes[at...] }

    mutating func bytesField() throws -> [UInt8]? {
        guard at < bytes.endIndex else { return nil }
        if bytes[at] == UInt8(ascii: "-") {
            at += 1
            return nil
        }
        var length = 0
        while at < bytes.endIndex, bytes[at] != UInt8(ascii: ":") {
            let digit = Int(bytes[at]) - 48
            guard (0...9).contains(digit) else { throw malformed }
            length = length * 10 + digit
            at += 1
        }
        let start = at + 1
        guard start + length <= bytes.endIndex else { throw malformed }
        at = start + length
        return Array(bytes[start..<at])
    }

    mutating func text() throws -> String? { try bytesField().map { String(decoding: $0, as: UTF8.self) } }

    mutating func integer<N: FixedWidthInteger>(_: N.Type = N.self) throws -> N {
        guard let text = try text() else { return 0 }
        guard let value = N(text) else { throw malformed }
        return value
    }

    mutating func double() throws -> Double {
        guard let text = try text() else { return 0 }
        guard let value = Double(text) else { throw malformed }
        return value
    }

    private var malformed: RedisError {
        RedisError(.unexpectedReply, "redis: a stored job or result is malformed; was it written by another version of batchcore?")
    }
}
