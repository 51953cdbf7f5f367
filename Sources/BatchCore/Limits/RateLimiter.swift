/// A limit shared by every worker and every batch that names it: requests
/// per period (GCRA: each grant is spaced by period/count, `burst` may come
/// at once) and optionally tokens per period (a bucket holding one period's
/// worth, charged with an estimate before the call and corrected with the
/// real usage after it). A Retry-After pauses it for everyone.
public final class RateLimiter: Sendable {
    public let name: String
    public let requests: Rate?
    public let tokens: Rate?
    public let burst: Int
    private let state: Locked<State>

    private struct State {
        var theoreticalArrival: UInt64 = 0
        var tokensAvailable: Double
        var tokensStamp: UInt64
        var pausedUntil: UInt64 = 0
    }

    public init(name: String, requests: Rate?, tokens: Rate?, burst: Int = 1) {
        self.name = name
        self.requests = requests
        self.tokens = tokens
        self.burst = max(1, burst)
        state = Locked(State(tokensAvailable: tokens?.count ?? 0, tokensStamp: monotonicNanos()))
    }

    private var interval: UInt64 { requests.map { UInt64($0.seconds / $0.count * 1e9) } ?? 0 }

    /// Takes a permit for one call expected to use `estimate` tokens and
    /// returns nil, or returns the earliest time (monotonic ns) to ask again.
    public func acquire(now: UInt64 = monotonicNanos(), estimate: Double = 0) -> UInt64? {
        state.withLock { s in
            if now < s.pausedUntil { return s.pausedUntil }
            let tolerance = interval * UInt64(burst - 1)
            let allowedAt = s.theoreticalArrival > tolerance ? s.theoreticalArrival - tolerance : 0
            if requests != nil && now < allowedAt { return allowedAt }
            if let tokens {
                refill(&s, tokens, now)
                // A call larger than the whole bucket waits for a full one, never forever.
                let needed = min(estimate, tokens.count)
                if s.tokensAvailable < needed {
                    return now + UInt64((needed - s.tokensAvailable) / tokens.perSecond * 1e9)
                }
                s.tokensAvailable -= estimate
            }
            if requests != nil { s.theoreticalArrival = max(s.theoreticalArrival, now) + interval }
            return nil
        }
    }

    /// Corrects the token charge once the real usage is known.
    public func settle(estimate: Double, actual: Double) {
        guard let tokens else { return }
        state.withLock { s in
            s.tokensAvailable = min(tokens.count, s.tokensAvailable + estimate - actual)
        }
    }

    /// Pauses every caller until `until` (monotonic ns): a Retry-After.
    public func pause(until: UInt64) {
        state.withLock { $0.pausedUntil = max($0.pausedUntil, until) }
    }

    /// What is left now: the time (monotonic ns) a Retry-After pauses it
    /// until (0 when not paused), and the tokens available (nil without a token limit).
    public func available(now: UInt64 = monotonicNanos()) -> (pausedUntil: UInt64, tokens: Double?) {
        state.withLock { s in
            let paused = now < s.pausedUntil ? s.pausedUntil : 0
            guard let tokens else { return (paused, nil) }
            refill(&s, tokens, now)
            return (paused, s.tokensAvailable)
        }
    }

    private func refill(_ s: inout State, _ tokens: Rate, _ now: UInt64) {
        guard now > s.tokensStamp else { return }
        let gained = Double(now - s.tokensStamp) / 1e9 * tokens.perSecond
        s.tokensAvailable = min(tokens.count, s.tokensAvailable + gained)
        s.tokensStamp = now
    }

    public var summary: String {
        var parts: [String] = []
        if let requests { parts.append("\(requests) requests") }
        if let tokens { parts.append("\(tokens) tokens") }
        if burst > 1 { parts.append("burst \(burst)") }
        return parts.joined(separator: ", ")
    }
}
