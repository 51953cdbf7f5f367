/// Lifecycle of a batch.
public enum BatchState: Int32, Sendable {
    case new = 0
    case running = 1
    case finished = 2
    case cancelled = 3
}

/// A snapshot of a batch's counters.
public struct BatchStats: Sendable, Equatable {
    public var state = BatchState.new
    public var total: UInt64 = 0
    public var totalKnown = false
    public var workers = 0
    public var ok: UInt64 = 0
    public var partial: UInt64 = 0
    public var failed: UInt64 = 0
    public var skipped: UInt64 = 0
    public var inFlight: UInt64 = 0
    public var retryWaiting: UInt64 = 0
    /// Documents waiting for their rate limit (they hold no worker).
    public var rateLimitWaiting: UInt64 = 0
    public var attempts: UInt64 = 0
    public var retries: UInt64 = 0
    /// Attempts that overran `timeout`.
    public var timeouts: UInt64 = 0
    public var inputTokens: UInt64 = 0
    public var outputTokens: UInt64 = 0
    public var elapsedSeconds = 0.0
    public var docsPerHour = 0.0
    public var meanDocMs = 0.0
    /// Documents the journal had already finished (resume): counted, not run.
    public var resumed: UInt64 = 0
    /// Documents whose result was reused from identical content (dedupe).
    public var deduplicated: UInt64 = 0

    public init() {}

    public var finishedCount: UInt64 { ok + partial + failed + skipped }

    /// Counts one document that reached `status`.
    mutating func count(_ status: DocumentStatus) {
        switch status {
        case .ok: ok += 1
        case .partial: partial += 1
        case .failed: failed += 1
        case .skipped: skipped += 1
        case .pending: break
        }
    }
}

/// The live counters behind `BatchStats`; guarded by the batch's lock.
struct StatsCounters {
    var stats = BatchStats()
    var knownTotal: UInt64 = 0
    var allSourcesCounted = true
    var discovered: UInt64 = 0
    var busyNanos: UInt64 = 0
    var startNanos: UInt64 = 0
    var endNanos: UInt64? = nil

    mutating func record(_ result: DocumentResult) {
        stats.count(result.status)
        stats.inputTokens &+= result.inputTokens
        stats.outputTokens &+= result.outputTokens
        busyNanos &+= UInt64(result.durationMs * 1_000_000)
    }

    /// Counts a document the journal had already finished.
    mutating func restore(_ status: DocumentStatus) {
        stats.resumed += 1
        stats.count(status)
    }

    func snapshot(now: UInt64) -> BatchStats {
        var s = stats
        s.total = max(knownTotal, discovered)
        let started = startNanos != 0
        let end = endNanos ?? now
        s.elapsedSeconds = started ? Double(end - startNanos) / 1e9 : 0
        let finished = s.ok + s.partial + s.failed - s.resumed
        if s.elapsedSeconds > 0 { s.docsPerHour = Double(finished) / s.elapsedSeconds * 3600 }
        if finished > 0 { s.meanDocMs = Double(busyNanos) / 1e6 / Double(finished) }
        return s
    }
}
