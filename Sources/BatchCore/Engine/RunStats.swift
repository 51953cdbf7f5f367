/// A run's live counters and state, read by `stats` from any thread; the
/// statistics sink every finished document goes through.
final class RunStats: ResultSink {
    private let counters = Locked(StatsCounters())
    private let state = Locked(BatchState.running)
    /// The rate limit: the whole input cannot go faster than it lets it.
    private let requestRate: Rate?

    init(requestRate: Rate?) { self.requestRate = requestRate }

    func accept(_ result: DocumentResult, persisted: Bool) {
        counters.withLock { $0.record(result) }
    }

    @discardableResult
    func update<T>(_ body: (inout StatsCounters) -> T) -> T { counters.withLock(body) }

    /// The run ended in `final`; the clock stops.
    func end(_ final: BatchState) {
        counters.withLock { $0.endNanos = monotonicNanos() }
        state.withLock { $0 = final }
    }

    var snapshot: BatchStats {
        var s = counters.withLock { $0.snapshot(now: monotonicNanos()) }
        s.state = state.withLock { $0 }
        if s.sampledFrom > 0, let rate = requestRate {
            s.projectedSeconds = max(s.projectedSeconds, Double(s.sampledFrom) / rate.perSecond)
        }
        return s
    }
}
