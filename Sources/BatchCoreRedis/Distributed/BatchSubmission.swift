import BatchCore

/// Puts a checked batch on Redis: its plan, then its documents, then opens it
/// to workers. A submission that fails leaves nothing behind.
public struct BatchSubmission {
    public let plan: BatchPlan
    public let sources: [any DocumentSource]

    public init(plan: BatchPlan, sources: [any DocumentSource]) {
        self.plan = plan
        self.sources = sources
    }

    /// Returns the new batch's id and how many documents it has.
    public func submit(to pool: RedisConnectionPool) throws -> (id: String, total: Int) {
        let record = RedisBatch(id: Self.newBatchID())
        let total = try redisCall {
            try pool.with { c -> Int in
                try Self.refuseEvicting(c)
                try record.create(plan: plan, on: c)
                do {
                    let total = try DocumentUpload(batch: record, lease: plan.leaseMilliseconds).upload(sources, on: c)
                    try record.open(total: total, on: c)
                    return total
                } catch {
                    try? record.discard(on: c)
                    throw error
                }
            }
        }
        return (record.id, total)
    }

    /// An evicting server could drop jobs and results under memory pressure.
    static func refuseEvicting(_ connection: RedisConnection) throws {
        guard let reply = try? connection.command("CONFIG", "GET", "maxmemory-policy"), let pair = reply.array,
              pair.count == 2, let policy = pair[1].string else { return }  // CONFIG may be disabled
        guard policy.hasPrefix("allkeys-") || policy.hasPrefix("volatile-") else { return }
        throw BatchCoreError(.option, "the Redis server at \(connection.url) evicts keys when its memory is full (maxmemory-policy \(policy)): it could silently drop jobs and results. Set `maxmemory-policy noeviction` (in redis.conf, or CONFIG SET maxmemory-policy noeviction) and submit again")
    }

    /// Time-ordered and random: `b-<ms in base 36>-<4 hex digits>`.
    static func newBatchID() -> String {
        let millis = UInt64(wallSeconds() * 1000)
        let random = UInt16.random(in: 0...UInt16.max)
        let hex = String(random, radix: 16)
        return "b-\(String(millis, radix: 36))-\(String(repeating: "0", count: 4 - hex.count))\(hex)"
    }
}

/// Runs `body`, turning a Redis failure into the engine's error (its message, code BC_EIO).
public func redisCall<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as RedisError {
        throw BatchCoreError(.io, error.message)
    }
}
