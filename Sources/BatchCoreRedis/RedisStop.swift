import BatchCore

/// Tells the connections of a process that it is stopping: a connection that
/// is down then fails at once instead of waiting up to its reconnect timeout,
/// so a worker whose server is gone exits promptly when told to stop.
public final class RedisStop: Sendable {
    private let stopping = Locked(false)

    public init() {}

    public func request() { stopping.withLock { $0 = true } }

    public var isRequested: Bool { stopping.withLock { $0 } }

    /// Sleeps for `duration`, or less when a stop is requested meanwhile.
    func sleep(for duration: Duration) {
        let end = ContinuousClock.now + duration
        while !isRequested, ContinuousClock.now < end {
            sleepSeconds(min(0.05, Self.seconds(end - ContinuousClock.now)))
        }
    }

    private static func seconds(_ d: Duration) -> Double {
        let (s, atto) = d.components
        return Double(s) + Double(atto) / 1e18
    }
}
