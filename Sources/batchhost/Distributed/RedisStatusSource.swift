import BatchCore
import BatchCoreRedis

/// The status of every distributed batch on a Redis server, for
/// `batchhost dashboard`: read from Redis on each request, with the
/// throughput of each batch sampled as the dashboard is read.
final class RedisStatusSource: StatusSource, Sendable {
    private let pool: RedisConnectionPool
    /// Workers not seen for this long are left out: gone, or done with the batch.
    private let workerExpiry: Double
    private let histories = Locked([String: ThroughputHistory]())

    init(pool: RedisConnectionPool, workerExpiry: Double) {
        self.pool = pool
        self.workerExpiry = workerExpiry
    }

    func batches() throws -> [BatchStatus] {
        let summaries = try redisCall {
            try pool.with { c in
                try RedisBatch.all(on: c).map { (try BatchSummary.read(RedisBatch(id: $0), on: c), try RedisFailures(batch: $0).groups(on: c)) }
            }
        }
        let now = wallSeconds()
        return summaries.map { summary, failures in
            var status = summary.status(now: now, workerExpiry: workerExpiry)
            status.failures = failures.map(FailureGroup.init)
            status.throughput = histories.withLock { all in
                all[summary.id, default: ThroughputHistory()].record(time: now, finished: UInt64(summary.committed))
                return all[summary.id]!.samples
            }
            return status
        }
    }

    func documents(_ filter: JournalReader.DocumentFilter, status: ListedStatus?, batch: String?) throws -> [ListedDocument] {
        let id = try named(batch)
        return try redisCall { try pool.with { try RedisDocumentPages.page(of: id, status: status, filter, on: $0) } }
    }

    /// A committed document and the calls Redis kept of it (`RedisAttempts`);
    /// one that succeeded at its first call has none, as in a run's journal.
    func document(id: String, batch: String?) throws -> (DocumentResult, [AttemptRecord])? {
        let batch = try named(batch)
        return try redisCall {
            try pool.with { c in
                try RedisDocumentPages.document(id, of: batch, on: c).map { ($0, try RedisAttempts(batch: batch).history(of: id, on: c)) }
            }
        }
    }

    func cancel(batch: String?) throws {
        let id = try named(batch)
        try redisCall { try pool.with { try RedisBatchControl.cancel(id, on: $0) } }
    }

    func setPaused(_ paused: Bool, batch: String?) throws {
        let id = try named(batch)
        try redisCall { try pool.with { try RedisBatchControl.setPaused(id, paused, on: $0) } }
    }

    func retry(_ selection: RetrySelection, batch: String?) throws -> RetryAnswer {
        let id = try named(batch)
        let ids = try redisCall {
            try pool.with { c in
                let chosen: (Document) -> Bool
                switch selection {
                case .allFailed: chosen = { _ in true }
                case .document(let document): chosen = { $0.id == document }
                case .group(let stage, let error):
                    let group = Set(try RedisFailures(batch: id).ids(stage: stage, error: error == Self.otherErrors ? nil : error, on: c))
                    chosen = { group.contains($0.id) }
                }
                return try RedisBatchControl.retryFailed(id, where: chosen, on: c)
            }
        }
        return RetryAnswer(matched: ids.count, requeued: ids)
    }

    /// The error shown for the group of failures past the groups kept.
    static let otherErrors = "(other errors, past the \(RedisFailures.maxGroups) groups kept)"

    private func named(_ batch: String?) throws -> String {
        guard let batch, !batch.isEmpty else {
            throw BatchCoreError(.invalidArgument, "say which batch: add batch=ID (the ids /api/status lists)")
        }
        return batch
    }
}

extension BatchSummary {
    /// The batch as the status server shows it; workers not seen for `workerExpiry` seconds are left out.
    func status(now: Double, workerExpiry: Double) -> BatchStatus {
        var s = BatchStats()
        switch state {
        case .open, .paused: s.state = .running
        case .cancelled: s.state = .cancelled
        case .finished: s.state = .finished
        case .submitting, nil: s.state = .new
        }
        s.total = UInt64(total ?? committed)
        s.totalKnown = total != nil
        s.ok = UInt64(count("ok"))
        s.partial = UInt64(count("partial"))
        s.failed = UInt64(count("failed"))
        s.skipped = UInt64(count("skipped"))
        s.inFlight = UInt64(inFlight)
        s.retryWaiting = UInt64(retryWaiting)
        s.costUSD = costUSD
        let live = workers.filter { ($0.secondsSinceSeen ?? .infinity) <= workerExpiry }
        s.workers = live.count
        return BatchStatus(
            name: id, tenant: tenant, stats: s, paused: state == .paused, budgetUSD: nil, docsPerSecond: perMinute / 60,
            estimatedCompletion: etaSeconds.map { now + $0 }, lastSuccess: nil, throughput: [], limiter: nil, failures: [],
            workers: live.map { WorkerStatus(name: $0.name, done: $0.done, state: $0.state, secondsSinceSeen: $0.secondsSinceSeen) },
            actions: state == .open || state == .paused ? ["cancel", "pause", "resume", "retry"] : ["retry"])
    }
}

private extension FailureGroup {
    init(_ group: RedisFailures.Group) {
        self.init(stage: group.stage, error: group.error ?? RedisStatusSource.otherErrors, count: UInt64(group.count),
                  exampleIDs: group.examples)
    }
}
