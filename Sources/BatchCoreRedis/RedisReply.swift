import CHiredis

/// A reply from the server, copied out of hiredis' reply object.
public enum RedisReply: Equatable, Sendable {
    case null
    case integer(Int64)
    case bulk([UInt8])
    case array([RedisReply])
    case status(String)
    case error(String)

    init(_ reply: UnsafePointer<redisReply>) {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_INTEGER: self = .integer(Int64(r.integer))
        case REDIS_REPLY_STRING: self = .bulk(RedisReply.bytes(r.str, r.len))
        case REDIS_REPLY_STATUS: self = .status(String(decoding: RedisReply.bytes(r.str, r.len), as: UTF8.self))
        case REDIS_REPLY_ERROR: self = .error(String(decoding: RedisReply.bytes(r.str, r.len), as: UTF8.self))
        case REDIS_REPLY_ARRAY:
            self = .array((0..<r.elements).map { RedisReply(UnsafePointer(r.element[$0]!)) })
        default: self = .null
        }
    }

    private static func bytes(_ pointer: UnsafeMutablePointer<CChar>?, _ count: Int) -> [UInt8] {
        guard let pointer, count > 0 else { return [] }
        return [UInt8](UnsafeRawBufferPointer(start: pointer, count: count))
    }

    public var isError: Bool {
        if case .error = self { true } else { false }
    }

    /// The integer of an integer reply, or of a bulk reply holding a number.
    public var integer: Int64? {
        switch self {
        case .integer(let value): value
        case .bulk(let bytes): Int64(String(decoding: bytes, as: UTF8.self))
        default: nil
        }
    }

    /// The bytes of a bulk reply.
    public var bytes: [UInt8]? {
        if case .bulk(let bytes) = self { bytes } else { nil }
    }

    /// The text of a bulk or status reply.
    public var string: String? {
        switch self {
        case .bulk(let bytes): String(decoding: bytes, as: UTF8.self)
        case .status(let text): text
        default: nil
        }
    }

    /// The elements of an array reply; a null reply (an empty read) is an empty array.
    public var array: [RedisReply]? {
        switch self {
        case .array(let elements): elements
        case .null: []
        default: nil
        }
    }

    /// A hash as HGETALL answers it (field, value, field, value, …), its
    /// values as text; empty when the reply is not an array.
    var fields: [String: String] {
        let flat = array ?? []
        var out: [String: String] = [:]
        for i in stride(from: 0, to: flat.count - 1, by: 2) {
            if let key = flat[i].string { out[key] = flat[i + 1].string ?? "" }
        }
        return out
    }

    /// Throws `.unexpectedReply` naming `what` the operation expected, when `value` is nil.
    func expect<T>(_ value: T?, _ what: String) throws -> T {
        guard let value else { throw RedisError(.unexpectedReply, "redis: expected \(what), got \(self)") }
        return value
    }
}
