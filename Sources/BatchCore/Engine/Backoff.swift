/// Full-jitter exponential backoff: after attempt n the wait is a random
/// time in [0, min(max, base·2^(n-1))]. The jitter spreads the retries of
/// many documents that failed together instead of sending them back at once.
/// Without jitter the wait is the ceiling itself, so delays are predictable.
struct Backoff: Sendable {
    let base: Double
    let max: Double
    var jitter = true

    /// The longest wait after attempt `n` (1-based), in seconds.
    func ceiling(afterAttempt n: Int) -> Double {
        Swift.max(0, Swift.min(max, base * Double(1 << Swift.min(Swift.max(n, 1) - 1, 30))))
    }

    func delayNanos(afterAttempt n: Int) -> UInt64 {
        let ceiling = ceiling(afterAttempt: n)
        return UInt64((jitter ? Double.random(in: 0...ceiling) : ceiling) * 1e9)
    }
}
