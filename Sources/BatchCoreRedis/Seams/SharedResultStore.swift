import BatchCore

/// A distributed batch's results as the engine's `ResultStore`: each
/// document's result committed once (first commit wins, a group at a time in
/// one Lua script), the first result for each content hash, and what this
/// worker committed and when (for `batchhost status`).
public final class SharedResultStore: ResultStore {
    private let results: RedisResults
    private let failures: RedisFailures
    private let attempts: RedisAttempts
    private let batch: RedisBatch
    private let pool: RedisConnectionPool
    private let consumer: String
    private let format: any ResultFormat
    private let acks: PendingAcks
    private let known: KnownResults

    /// Acknowledges the jobs in `acks` once their results are committed;
    /// `known` holds what the queue learnt of claimed documents' results.
    public init(batch: RedisBatch, consumer: String, pool: RedisConnectionPool, acks: PendingAcks,
                known: KnownResults, format: any ResultFormat = JSONLFormat()) {
        self.acks = acks
        self.known = known
        self.batch = batch
        results = RedisResults(batch: batch.id)
        failures = RedisFailures(batch: batch.id)
        attempts = RedisAttempts(batch: batch.id)
        self.consumer = consumer
        self.pool = pool
        self.format = format
    }

    public func status(of id: String) -> DocumentStatus? {
        let status = known.take(id) ?? (try? pool.with { try results.result(for: id, on: $0) }).flatMap { try? StoredLine.decode($0).status }
        if status != nil { acks.foundCommitted(id) }
        return status
    }

    public func firstResult(withHash hash: String) -> StoredResult? {
        guard let bytes = try? pool.with({ try results.firstResult(contentHash: hash, on: $0) }) else { return nil }
        return try? StoredContent.decode(bytes)
    }

    /// The budget ledger on the server knows what earlier runs spent.
    public var spentBefore: (cost: Double, documents: UInt64) { (0, 0) }

    public func beginRun() throws { try record(state: "running") }

    /// A run that ended because its batch was paused says so: it starts again on resume.
    public func endRun(state: String) throws {
        let paused = state != "failed" && (try? pool.with { try batch.state(on: $0) }) == .paused
        try record(state: paused ? "paused" : state)
    }

    public func commit(_ group: [DocumentResult], output: OutputPosition?) throws {
        guard !group.isEmpty else { return }
        let lines = group.map { RedisResults.Result(id: $0.document.id, status: $0.status.name, encoded: StoredLine.encode($0, format: format)) }
        try redis { c in
            let committed = Set(try results.commit(lines, on: c).committed)
            let fresh = group.filter { committed.contains($0.document.id) }
            try rememberContent(of: fresh, on: c)
            try count(fresh, on: c)
            try failures.record(fresh.filter { $0.status == .failed }.map { ($0.document.id, $0.failedStageLabel, $0.error ?? "") }, on: c)
            try attempts.record(fresh, on: c)
            try acks.committed(group.map(\.document.id), on: c)
            // The last group marks the batch finished now, not at a worker's next idle claim.
            if !fresh.isEmpty { _ = try batch.finishIfComplete(on: c) }
        }
    }

    /// The first ok or partial result for each content hash, for duplicates on any machine.
    private func rememberContent(of group: [DocumentResult], on connection: RedisConnection) throws {
        for result in group where result.contentHash != nil && result.duplicateOf == nil && result.status != .failed {
            _ = try results.rememberFirst(contentHash: result.contentHash!, result: StoredContent.encode(result), on: connection)
        }
    }

    /// What this worker committed, its cost and when: `batchhost status` reads these.
    private func count(_ fresh: [DocumentResult], on connection: RedisConnection) throws {
        guard !fresh.isEmpty else { return }
        let cost = fresh.map(\.costUSD).reduce(0, +)
        let second = Int64(wallSeconds())
        try check(try connection.pipeline([
            ["HINCRBY", batch.keys.workersDone, consumer, fresh.count],
            ["HSET", batch.keys.workersSeen, consumer, Int64(wallSeconds() * 1000)],
            ["HINCRBY", batch.keys.ticks, second, fresh.count],
            ["HINCRBYFLOAT", batch.keys.meta, "cost", cost],
        ]))
    }

    private func record(state: String) throws {
        try redis { c in
            try check(try c.pipeline([
                ["HSET", batch.keys.workersState, consumer, state],
                ["HSET", batch.keys.workersSeen, consumer, Int64(wallSeconds() * 1000)],
            ]))
        }
    }

    public func close() {}

    /// Redis failures as the engine's errors, which stop the run (the worker starts it again).
    private func redis(_ body: (RedisConnection) throws -> Void) throws {
        do {
            try pool.with(body)
        } catch let error as RedisError {
            throw BatchCoreError(.io, "batch \(batch.id): \(error.message)")
        }
    }
}
