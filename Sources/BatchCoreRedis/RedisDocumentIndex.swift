import BatchCore

/// A batch's documents as the dashboard pages them, without reading the
/// batch whole: ids in id order from the ZSETs kept as documents are
/// submitted and committed (every id, those without a result, the failed
/// ones), their results a chunk at a time, and the documents workers hold
/// now from the stream's pending entries.
public struct RedisDocumentIndex: Sendable {
    /// Which ids a walk follows.
    public enum List: Sendable {
        case all, unfinished, failed
    }

    /// At most this many held documents are read (the jobs in flight, on every worker).
    public static let runningRead = 10_000

    public let keys: RedisKeys

    public init(batch: String) { keys = RedisKeys(batch: batch) }

    /// Up to `count` ids of `list` after `after` (nil: from the first), in id order.
    public func ids(in list: List, after: String?, count: Int, on connection: RedisConnection) throws -> [String] {
        let key = switch list {
        case .all: keys.documents
        case .unfinished: keys.unfinished
        case .failed: keys.failedOrder
        }
        let reply = try connection.command("ZRANGEBYLEX", key, after.map { "(" + $0 } ?? "-", "+", "LIMIT", 0, count)
        return try reply.expect(reply.array, "a list of ids").map { try $0.expect($0.string, "an id") }
    }

    /// The committed results of `ids` (nil for one without a result), in order.
    public func results(of ids: [String], on connection: RedisConnection) throws -> [[UInt8]?] {
        guard !ids.isEmpty else { return [] }
        let reply = try connection.command(["HMGET", keys.results] + ids.map { $0 as any RedisArgument })
        return try reply.expect(reply.array, "a list of results").map(\.bytes)
    }

    /// The documents of the jobs workers hold now (leased, running or about
    /// to), by id; up to `runningRead` of them.
    public func held(on connection: RedisConnection) throws -> [String: Document] {
        let pending = try connection.command("XPENDING", keys.jobs, RedisWorkQueue.group, "-", "+", Self.runningRead)
        let entries = (pending.array ?? []).compactMap { $0.array?.first?.string }
        guard !entries.isEmpty else { return [:] }
        let replies = try connection.pipeline(entries.map { ["XRANGE", keys.jobs, $0, $0] })
        try check(replies)
        var held: [String: Document] = [:]
        for reply in replies {
            // [[entry id, [field, job]]]; empty once the entry is deleted.
            guard let job = reply.array?.first?.array?.last?.array?.last?.bytes else { continue }
            let document = try JobCodec.decode(job).document
            held[document.id] = document
        }
        return held
    }
}
