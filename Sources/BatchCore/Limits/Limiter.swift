/// What a stage's calls draw from before they start: permits (requests)
/// and tokens, shared by every worker that names the same limit. The local
/// implementation is `RateLimiter`; a shared one lives on a server.
public protocol Limiter: AnyObject, Sendable {
    /// The request rate, if limited: a run's projection cannot beat it.
    var requests: Rate? { get }
    /// Takes a permit for one call expected to use `estimate` tokens: nil
    /// to go now, else the earliest time (monotonic ns) to ask again.
    func acquire(now: UInt64, estimate: Double) -> UInt64?
    /// Pauses every caller until `until` (monotonic ns): a Retry-After.
    func pause(until: UInt64)
    /// Corrects a granted estimate once the real usage is known.
    func settle(estimate: Double, actual: Double)
}

extension RateLimiter: Limiter {}
