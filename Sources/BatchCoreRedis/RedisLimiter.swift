/// A named rate limiter shared by every worker on every machine: a GCRA for
/// requests and a token bucket for tokens, both on the server's clock (`TIME`), and
/// a pause (after a Retry-After) that both honour. Each operation is one Lua script,
/// atomic on the server. Acquiring is resent after a reconnect: a grant whose reply
/// was lost is spent, which errs on the side of fewer requests.
public struct RedisLimiter: Sendable {
    public let keys: RedisKeys.Limiter

    public init(name: String) { keys = RedisKeys.limiter(name) }

    /// Takes `units` at `rate` per second with up to `burst` at once. Returns 0 when
    /// granted, else the milliseconds to wait before asking again (nothing is taken).
    public func acquire(_ units: Int = 1, perSecond rate: Double, burst: Int, on connection: RedisConnection) throws -> Int {
        try check(rate > 0 && burst >= 1, "a rate above 0 and a burst of at least 1 (got \(rate)/s, burst \(burst))")
        try check((1...burst).contains(units), "between 1 and the burst \(burst) units (got \(units))")
        return try run(LimiterScripts.acquire, [keys.requests, keys.pausedUntil], [units, rate, burst], on: connection)
    }

    /// Takes an estimate of tokens from a bucket refilled at `rate` per second up to
    /// `capacity`. Returns 0 when granted, else the milliseconds to wait. An estimate
    /// above the capacity is granted when the bucket is full.
    public func acquireTokens(_ estimate: Int, perSecond rate: Double, capacity: Int, on connection: RedisConnection) throws -> Int {
        try check(rate > 0 && capacity >= 1 && estimate >= 0, "a rate above 0, a capacity of at least 1 and an estimate from 0 up")
        return try run(LimiterScripts.acquireTokens, [keys.tokens, keys.pausedUntil], [estimate, rate, capacity], on: connection)
    }

    /// Corrects a granted estimate once the real count is known: gives back what was
    /// over, takes what was under. Not resent: a correction lost with the connection
    /// is dropped rather than risk applying it twice.
    public func settleTokens(estimated: Int, actual: Int, perSecond rate: Double, capacity: Int, on connection: RedisConnection) throws {
        try check(rate > 0 && capacity >= 1, "a rate above 0 and a capacity of at least 1")
        _ = try LimiterScripts.settleTokens.run(on: connection, keys: [keys.tokens], arguments: [estimated - actual, rate, capacity])
    }

    /// Pauses every acquire of this limiter for `milliseconds` from now on the server's
    /// clock; a pause only ever extends one already set. Returns the time paused until
    /// (ms since the epoch, server clock).
    @discardableResult
    public func pause(forMilliseconds milliseconds: Int, on connection: RedisConnection) throws -> Int64 {
        try check(milliseconds >= 0, "a pause from 0 ms up (got \(milliseconds))")
        return Int64(try run(LimiterScripts.pause, [keys.pausedUntil], [milliseconds], on: connection))
    }

    private func run(_ script: RedisScript, _ keys: [String], _ arguments: [any RedisArgument], on connection: RedisConnection) throws -> Int {
        let reply = try connection.resending { try script.run(on: $0, keys: keys, arguments: arguments) }
        return Int(try reply.expect(reply.integer, "an integer from '\(script.name)'"))
    }

    private func check(_ condition: Bool, _ expected: String) throws {
        guard condition else { throw RedisError(.invalidArgument, "limiter '\(keys.name)': expected \(expected)") }
    }
}
