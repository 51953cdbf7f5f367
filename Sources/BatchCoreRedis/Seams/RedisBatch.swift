/// A distributed batch's record in Redis: its plan, its state (`open` while
/// workers serve it, `paused` while an operator holds it, then `finished` or
/// `cancelled`), how many documents it has once submitted, and the set of
/// open batches workers look at.
public struct RedisBatch: Sendable {
    public enum State: String, Sendable {
        case submitting, open, paused, finished, cancelled

        /// Workers claim no more of its documents (those they hold finish).
        public var stopsClaims: Bool { self == .paused || self == .cancelled }
    }

    public let id: String
    public let keys: RedisKeys

    public init(id: String) {
        self.id = id
        keys = RedisKeys(batch: id)
    }

    /// Records a new batch, not yet served: its documents come next.
    public func create(plan: BatchPlan, on connection: RedisConnection) throws {
        let now = try serverMilliseconds(on: connection)
        try check(try connection.pipeline([
            ["HSET", keys.meta, "plan", try plan.encoded(), "state", State.submitting.rawValue, "tenant", plan.tenant,
             "created", now, "lease", plan.leaseMilliseconds],
            ["ZADD", RedisKeys.batches, now, id],
        ]))
        try RedisWorkQueue(batch: id, lease: .milliseconds(plan.leaseMilliseconds)).create(on: connection)
    }

    /// Every document was added: workers serve the batch, which finishes once that many are committed.
    public func open(total: Int, on connection: RedisConnection) throws {
        try connection.command("HSET", keys.meta, "total", total)
        try setState(.open, on: connection)
    }

    /// Removes a batch whose submission failed.
    public func discard(on connection: RedisConnection) throws {
        try check(try connection.pipeline([["DEL"] + keys.all.map { $0 as any RedisArgument }, ["ZREM", RedisKeys.batches, id]]))
    }

    public func plan(on connection: RedisConnection) throws -> BatchPlan {
        guard let bytes = try connection.command("HGET", keys.meta, "plan").bytes else {
            throw RedisError(.invalidArgument, "no batch '\(id)' in Redis at \(connection.url): see `batchhost status` for the batches there")
        }
        return try BatchPlan.decode(bytes)
    }

    public func exists(on connection: RedisConnection) throws -> Bool {
        try connection.command("EXISTS", keys.meta).integer == 1
    }

    public func state(on connection: RedisConnection) throws -> State? {
        try connection.command("HGET", keys.meta, "state").string.flatMap(State.init)
    }

    /// Sets the state; open batches are in the set workers serve.
    public func setState(_ state: State, on connection: RedisConnection) throws {
        try check(try connection.pipeline([
            ["HSET", keys.meta, "state", state.rawValue],
            state == .open ? ["SADD", RedisKeys.open, id] : ["SREM", RedisKeys.open, id],
        ]))
    }

    /// Marks an open batch finished once every submitted document has a
    /// result, in one round trip when it is not; returns the batch's state.
    public func finishIfComplete(on connection: RedisConnection) throws -> State? {
        let replies = try connection.pipeline([["HGET", keys.meta, "state"], ["HGET", keys.meta, "total"], ["HVALS", keys.counts]])
        try check(replies)
        let state = replies[0].string.flatMap(State.init)
        guard state == .open, let total = replies[1].integer else { return state }
        let committed = (replies[2].array ?? []).compactMap(\.integer).reduce(0, +)
        guard committed >= total else { return state }
        try setState(.finished, on: connection)
        return .finished
    }

    /// Open batches, oldest first.
    public static func openIds(on connection: RedisConnection) throws -> [String] {
        let ids = try connection.command("SMEMBERS", RedisKeys.open).array ?? []
        let named = ids.compactMap(\.string)
        guard !named.isEmpty else { return [] }
        let scores = try connection.pipeline(named.map { ["ZSCORE", RedisKeys.batches, $0] })
        return zip(named, scores).sorted { ($0.1.integer ?? 0, $0.0) < ($1.1.integer ?? 0, $1.0) }.map(\.0)
    }

    /// Every batch, oldest first.
    public static func all(on connection: RedisConnection) throws -> [String] {
        (try connection.command("ZRANGE", RedisKeys.batches, 0, -1).array ?? []).compactMap(\.string)
    }

    /// Finished batches go after `seconds` once collected: every key, and the batch's place in the list.
    public func expire(after seconds: Int, on connection: RedisConnection) throws {
        try check(try connection.pipeline(keys.all.map { ["EXPIRE", $0, seconds] }))
    }

    private func serverMilliseconds(on connection: RedisConnection) throws -> Int64 {
        let time = try connection.command("TIME").array ?? []
        guard time.count == 2, let seconds = time[0].integer, let micros = time[1].integer else {
            throw RedisError(.unexpectedReply, "redis: expected TIME's [seconds, microseconds]")
        }
        return seconds * 1000 + micros / 1000
    }
}

/// Throws the first error reply of a pipeline.
func check(_ replies: [RedisReply]) throws {
    for reply in replies {
        if case .error(let message) = reply { throw RedisError(.server, "redis: \(message)") }
    }
}
