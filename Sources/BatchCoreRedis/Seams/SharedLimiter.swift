import BatchCore

/// A named limit shared by every worker on every machine, as the engine's
/// `Limiter`: requests in a GCRA and tokens in a bucket, both in Lua on the
/// server's clock, and one pause (a Retry-After) for all.
public final class SharedLimiter: Limiter {
    public let requests: Rate?
    private let tokens: Rate?
    private let burst: Int
    private let limiter: RedisLimiter
    private let pool: RedisConnectionPool
    private let log: @Sendable (String) -> Void

    public init(name: String, requests: Rate?, tokens: Rate?, burst: Int, pool: RedisConnectionPool,
                log: @escaping @Sendable (String) -> Void) {
        limiter = RedisLimiter(name: name)
        self.requests = requests
        self.tokens = tokens
        self.burst = max(1, burst)
        self.pool = pool
        self.log = log
    }

    public func acquire(now: UInt64, estimate: Double) -> UInt64? {
        do {
            let wait = try pool.with { c -> Int in
                if let requests {
                    let wait = try limiter.acquire(perSecond: requests.perSecond, burst: burst, on: c)
                    if wait > 0 { return wait }
                }
                guard let tokens else { return 0 }
                return try limiter.acquireTokens(Int(estimate.rounded(.up)), perSecond: tokens.perSecond,
                                                 capacity: Int(tokens.count), on: c)
            }
            return wait > 0 ? now + UInt64(wait) * 1_000_000 : nil
        } catch {
            log("limiter '\(limiter.keys.name)': \(error); asking again in a second")
            return now + 1_000_000_000
        }
    }

    public func pause(until: UInt64) {
        let now = monotonicNanos()
        guard until > now else { return }
        do {
            try pool.with { _ = try limiter.pause(forMilliseconds: Int((until - now) / 1_000_000), on: $0) }
        } catch {
            log("limiter '\(limiter.keys.name)': pausing failed: \(error)")
        }
    }

    public func settle(estimate: Double, actual: Double) {
        guard let tokens, estimate != actual else { return }
        try? pool.with {
            try limiter.settleTokens(estimated: Int(estimate.rounded(.up)), actual: Int(actual.rounded(.up)),
                                     perSecond: tokens.perSecond, capacity: Int(tokens.count), on: $0)
        }
    }
}
