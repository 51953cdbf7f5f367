import BatchCore
import Glibc

/// The status of the batch this process runs: its live counters, its
/// journal (read on a connection of its own per request) and what its
/// events told (throughput, failures when there is no journal).
final class LocalRunStatus: StatusSource, Sendable {
    private let batch: Batch
    private let name: String
    private let journalPath: String?
    private let observed = Locked(Observed())

    private struct Observed {
        var history = ThroughputHistory()
        var failures = FailureTally()
        var succeeded: UInt64 = 0
        var lastSuccess: Double? = nil
        /// The journal's failure groups and when they were read.
        var journalFailures: (time: Double, groups: [FailureGroup])? = nil
    }

    /// Grouping a journal's failures reads every failed row: at most this
    /// often, or once a second while the groups miss some failed documents.
    private static let failureRefreshSeconds = 5.0
    private static let newFailureRefreshSeconds = 1.0

    init(batch: Batch, name: String, journalPath: String?) {
        self.batch = batch
        self.name = name
        self.journalPath = journalPath
    }

    /// Called with each of the batch's events.
    func observe(_ event: BatchEvent) {
        switch event {
        case .documentFinished(let result, let stats):
            if result.status == .failed && journalPath == nil { observed.withLock { $0.failures.add(result) } }
            sample(stats)
        case .progress(let stats), .finished(let stats), .log(_, _, _, let stats), .notice(_, let stats):
            sample(stats)
        }
    }

    private func sample(_ stats: BatchStats) {
        let now = unixTime()
        observed.withLock { o in
            o.history.record(time: now, finished: stats.finishedCount - stats.resumed)
            let succeeded = stats.ok + stats.partial
            if succeeded > o.succeeded {
                o.succeeded = succeeded
                o.lastSuccess = now
            }
        }
    }

    func batches() -> [BatchStatus] {
        let stats = batch.stats
        sample(stats)
        let now = unixTime()
        let (history, lastSuccess, tally) = observed.withLock { ($0.history, $0.lastSuccess, $0.failures) }
        let rate = history.rate(over: 60)
        var eta: Double? = nil
        if stats.state == .running && stats.totalKnown && rate > 0 {
            eta = now + Double(stats.total - min(stats.total, stats.finishedCount)) / rate
        }
        let failures = journalPath == nil ? tally.largest : journalFailures(now: now, failed: stats.failed)
        return [BatchStatus(
            name: name, tenant: batch.batchOptions.tenant, stats: stats, paused: batch.isPaused, budgetUSD: batch.batchOptions.budget, docsPerSecond: rate,
            estimatedCompletion: eta, lastSuccess: lastSuccess, throughput: history.samples,
            limiter: batch.rateLimiter.map { limiterStatus($0, now: now) }, failures: failures,
            actions: stats.state == .running ? ["cancel", "pause", "resume", "retry"] : [])]
    }

    private func journalFailures(now: Double, failed: UInt64) -> [FailureGroup] {
        if let cached = observed.withLock({ $0.journalFailures }) {
            let age = now - cached.time
            let complete = cached.groups.reduce(0) { $0 + $1.count } == failed
            if age < Self.newFailureRefreshSeconds || (age < Self.failureRefreshSeconds && complete) {
                return cached.groups
            }
        }
        let groups = (try? withJournal { try $0.failureGroups() }) ?? []
        observed.withLock { $0.journalFailures = (now, groups) }
        return groups
    }

    private func limiterStatus(_ limiter: RateLimiter, now: Double) -> LimiterStatus {
        let clock = monotonicNanos()
        let available = limiter.available(now: clock)
        let paused = available.pausedUntil > clock ? now + Double(available.pausedUntil - clock) / 1e9 : nil
        return LimiterStatus(name: limiter.name, summary: limiter.summary, pausedUntil: paused, tokensAvailable: available.tokens)
    }

    /// The journal holds the documents that ended, each with its status.
    func documents(_ filter: JournalReader.DocumentFilter, status: ListedStatus?, batch _: String?) throws -> [ListedDocument] {
        switch status {
        case nil, .ended?: break
        default: throw BatchCoreError(.invalidArgument, "a run's journal lists the documents that ended: status=ok, partial, failed or skipped (done, pending and running are listed for distributed batches)")
        }
        return try withJournal { try $0.documents(filter) }.map(ListedDocument.finished)
    }

    func document(id: String, batch _: String?) throws -> (DocumentResult, [AttemptRecord])? {
        try withJournal { journal in try journal.document(id: id).map { ($0, try journal.attempts(of: id)) } }
    }

    func cancel(batch _: String?) throws {
        guard batch.isRunning else { throw notRunning }
        batch.cancel()
    }

    func setPaused(_ paused: Bool, batch _: String?) throws {
        guard batch.setPaused(paused) else { throw notRunning }
    }

    private var notRunning: BatchCoreError { BatchCoreError(.state, "the batch is not running") }

    func retry(_ selection: RetrySelection, batch _: String?) throws -> RetryAnswer {
        let ids: [String] = try withJournal { journal in
            switch selection {
            case .document(let id): return try journal.document(id: id)?.status == .failed ? [id] : []
            case .group(let stage, let error): return try journal.failedIDs(stage: stage, error: error, all: false)
            case .allFailed: return try journal.failedIDs(stage: nil, error: nil, all: true)
            }
        }
        // A group or all: those added from memory are left out (one document alone is refused, saying why).
        let contentGone = selection.isDocument ? [] : batch.failedFromMemory(ids)
        let runnable = ids.filter { !contentGone.contains($0) }
        let requeued = runnable.isEmpty ? [] : try batch.retry(ids: runnable)
        // The failure groups change at once: read them again on the next request.
        observed.withLock { $0.journalFailures = nil }
        return RetryAnswer(matched: ids.count, requeued: requeued, contentGone: contentGone)
    }

    /// A reader opened for one request: no connection outlives it, so the
    /// run's journal is closed cleanly when the run ends.
    private func withJournal<T>(_ body: (JournalReader) throws -> T) throws -> T {
        guard let journalPath else {
            throw BatchCoreError(.invalidArgument, "this run keeps no journal (--no-checkpoint, or output to standard output): documents can only be listed from a journal; run with --checkpoint FILE")
        }
        return try body(try JournalReader(path: journalPath))
    }
}

/// Now, in seconds since the Unix epoch.
func unixTime() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}
