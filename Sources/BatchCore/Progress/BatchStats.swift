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
    /// Seconds documents spent waiting for their rate limit (summed over documents).
    public var rateLimitWaitSeconds = 0.0
    /// Retry-Afters (429s) that paused the rate limit.
    public var rateLimitPauses: UInt64 = 0
    /// How long each stage's calls took, in stage order.
    public var stageDurations: [StageDurations] = []
    public var inputTokens: UInt64 = 0
    public var outputTokens: UInt64 = 0
    public var elapsedSeconds = 0.0
    public var docsPerHour = 0.0
    public var meanDocMs = 0.0
    /// Documents the journal had already finished (resume): counted, not run.
    public var resumed: UInt64 = 0
    /// Documents whose result was reused from identical content (dedupe).
    public var deduplicated: UInt64 = 0
    /// Resuming: finished remote documents changed at their source since
    /// (their ETag or Last-Modified differs); their results are kept.
    public var changedAtSource: UInt64 = 0
    /// Free-form units the processors reported.
    public var units: UInt64 = 0
    /// US dollars spent so far, earlier runs of the journal included.
    public var costUSD = 0.0
    /// US dollars spent by this run alone.
    public var runCostUSD = 0.0
    /// What the whole input will likely cost: spent so far plus the mean
    /// cost of a document times those left; 0 until it can be told.
    public var estimatedTotalCostUSD = 0.0
    /// The budget stopped the batch.
    public var budgetReached = false
    /// Database sinks waiting for their database (down, locked or slow).
    public var sinksWaiting = 0
    /// Sample mode: documents in the whole input (0 otherwise), and the time
    /// and cost of processing all of them, projected from the sample.
    public var sampledFrom: UInt64 = 0
    public var projectedSeconds = 0.0
    public var projectedCostUSD = 0.0

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
    /// Sample mode: how many of the input's documents run.
    var sampleSize: UInt64? = nil

    mutating func record(_ result: DocumentResult) {
        stats.count(result.status)
        stats.inputTokens = Count.sum(stats.inputTokens, result.inputTokens)
        stats.outputTokens = Count.sum(stats.outputTokens, result.outputTokens)
        stats.units = Count.sum(stats.units, result.units)
        stats.costUSD += result.costUSD
        stats.runCostUSD += result.costUSD
        busyNanos &+= UInt64(result.durationMs * 1_000_000)
    }

    /// Counts what this run's stages spent preparing (once per stage, before any document).
    mutating func recordPrepared(_ prepared: [PreparedResult]) {
        for result in prepared {
            stats.inputTokens = Count.sum(stats.inputTokens, result.usage.input)
            stats.outputTokens = Count.sum(stats.outputTokens, result.usage.output)
            stats.costUSD += result.costUSD
            stats.runCostUSD += result.costUSD
        }
    }

    /// Counts a document the journal had already finished.
    mutating func restore(_ status: DocumentStatus) {
        stats.resumed += 1
        stats.count(status)
    }

    func snapshot(now: UInt64) -> BatchStats {
        var s = stats
        s.total = sampleSize ?? max(knownTotal, discovered)
        let started = startNanos != 0
        let end = endNanos ?? now
        s.elapsedSeconds = started ? Double(end - startNanos) / 1e9 : 0
        let finished = s.ok + s.partial + s.failed - s.resumed
        if s.elapsedSeconds > 0 { s.docsPerHour = Double(finished) / s.elapsedSeconds * 3600 }
        if finished > 0 { s.meanDocMs = Double(busyNanos) / 1e6 / Double(finished) }
        if finished > 0 && s.totalKnown {
            let left = Double(s.total) - Double(s.finishedCount)
            s.estimatedTotalCostUSD = s.costUSD + max(0, left) * s.runCostUSD / Double(finished)
        }
        if s.sampledFrom > 0 && finished > 0 && s.elapsedSeconds > 0 {
            s.projectedSeconds = Double(s.sampledFrom) / (Double(finished) / s.elapsedSeconds)
            s.projectedCostUSD = Double(s.sampledFrom) * s.runCostUSD / Double(finished)
        }
        return s
    }
}
