/// A batch's results in Redis: each document's result is committed once (first
/// commit wins), with counts per status kept as results are committed, and the
/// first result for each content hash for dedupe across machines.
public struct RedisResults: Sendable {
    public struct Result: Sendable, Equatable {
        public let id: String
        public let status: String
        public let encoded: [UInt8]

        public init(id: String, status: String, encoded: [UInt8]) {
            self.id = id
            self.status = status
            self.encoded = encoded
        }
    }

    public struct Commit: Sendable, Equatable {
        /// Ids whose result this commit wrote.
        public let committed: [String]
        /// Ids that already had a result, which was kept.
        public let alreadyCommitted: [String]
    }

    public let keys: RedisKeys

    public init(batch: String) { keys = RedisKeys(batch: batch) }

    /// Commits a group of results atomically in one script: each id is written only
    /// if it has no result yet, and its status counted. Resent after a reconnect; a
    /// commit whose reply was lost then reports its own ids as already committed.
    public func commit(_ results: [Result], on connection: RedisConnection) throws -> Commit {
        guard !results.isEmpty else { return Commit(committed: [], alreadyCommitted: []) }
        let arguments: [any RedisArgument] = results.flatMap { [$0.id, $0.status, $0.encoded] as [any RedisArgument] }
        let reply = try connection.resending {
            try ResultScripts.commit.run(on: $0, keys: [keys.results, keys.counts, keys.unfinished], arguments: arguments)
        }
        let lists = try reply.expect(reply.array, "two lists of ids")
        guard lists.count == 2 else { throw RedisError(.unexpectedReply, "redis: expected two lists of ids, got \(reply)") }
        return Commit(committed: try Self.ids(lists[0]), alreadyCommitted: try Self.ids(lists[1]))
    }

    /// The committed result of a document, or nil.
    public func result(for id: String, on connection: RedisConnection) throws -> [UInt8]? {
        try connection.resending { try $0.command("HGET", keys.results, id) }.bytes
    }

    /// How many results were committed with each status.
    public func counts(on connection: RedisConnection) throws -> [String: Int] {
        let reply = try connection.resending { try $0.command("HGETALL", keys.counts) }
        let flat = try reply.expect(reply.array, "a hash")
        var counts: [String: Int] = [:]
        for pair in stride(from: 0, to: flat.count - 1, by: 2) {
            counts[try flat[pair].expect(flat[pair].string, "a status")] = Int(try flat[pair + 1].expect(flat[pair + 1].integer, "a count"))
        }
        return counts
    }

    /// Records `result` as the first for `contentHash` unless one is already there.
    /// Returns nil when this one was recorded, else the result recorded first (after a
    /// reconnect the resent call may return this same result).
    public func rememberFirst(contentHash: String, result: [UInt8], on connection: RedisConnection) throws -> [UInt8]? {
        try connection.resending {
            try ResultScripts.firstForContent.run(on: $0, keys: [keys.contentResults], arguments: [contentHash, result])
        }.bytes
    }

    /// The first result recorded for `contentHash`, or nil.
    public func firstResult(contentHash: String, on connection: RedisConnection) throws -> [UInt8]? {
        try connection.resending { try $0.command("HGET", keys.contentResults, contentHash) }.bytes
    }

    private static func ids(_ list: RedisReply) throws -> [String] {
        try list.expect(list.array, "a list of ids").map { try $0.expect($0.string, "an id") }
    }
}
