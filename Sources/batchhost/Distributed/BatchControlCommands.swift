import ArgumentParser
import BatchCore
import BatchCoreRedis

struct CancelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Stop a distributed batch: workers start no more of its documents and finish those they hold.")

    @OptionGroup var redis: RedisFlags

    @Argument(help: "The batch id.")
    var batch: String

    func run() throws {
        let pool = try redis.connect()
        try redisCall { try pool.with { try RedisBatchControl.cancel(batch, on: $0) } }
        writeStandardError("batchhost: batch \(batch) cancelled; its results so far can be collected\n")
    }
}

struct RetryFailedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry-failed",
        abstract: "Run a distributed batch's failed documents again, and open the batch to workers.")

    @OptionGroup var redis: RedisFlags

    @Argument(help: "The batch id.")
    var batch: String

    func run() throws {
        let pool = try redis.connect()
        let ids = try redisCall { try pool.with { try RedisBatchControl.retryFailed(batch, where: { _ in true }, on: $0) } }
        writeStandardError("batchhost: \(ids.count) failed documents of batch \(batch) will run again\n")
    }
}

struct PauseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause",
        abstract: "Pause a distributed batch: workers start no more of its documents and finish those they hold, until `resume`.")

    @OptionGroup var redis: RedisFlags

    @Argument(help: "The batch id.")
    var batch: String

    func run() throws {
        let pool = try redis.connect()
        try redisCall { try pool.with { try RedisBatchControl.setPaused(batch, true, on: $0) } }
        writeStandardError("batchhost: batch \(batch) paused; `batchhost resume` starts it again\n")
    }
}

struct ResumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Resume a paused distributed batch: workers start its documents again.")

    @OptionGroup var redis: RedisFlags

    @Argument(help: "The batch id.")
    var batch: String

    func run() throws {
        let pool = try redis.connect()
        try redisCall { try pool.with { try RedisBatchControl.setPaused(batch, false, on: $0) } }
        writeStandardError("batchhost: batch \(batch) resumed\n")
    }
}

/// Cancelling, pausing and resuming a distributed batch and running its
/// failed documents again: the `cancel`, `pause`, `resume` and
/// `retry-failed` commands, and the dashboard's actions.
enum RedisBatchControl {
    static func cancel(_ batch: String, on c: RedisConnection) throws {
        let record = RedisBatch(id: batch)
        _ = try record.plan(on: c)
        try record.setState(.cancelled, on: c)
    }

    /// Pauses an open batch (workers claim none of its documents, and
    /// finish those they hold) or resumes a paused one.
    static func setPaused(_ batch: String, _ paused: Bool, on c: RedisConnection) throws {
        let record = RedisBatch(id: batch)
        _ = try record.plan(on: c)
        let state = try record.state(on: c)
        guard state == .open || state == .paused else {
            let now = state?.rawValue ?? "unknown"
            throw BatchCoreError(.state, "batch \(batch) is \(now): only an open batch can be paused or resumed")
        }
        try record.setState(paused ? .paused : .open, on: c)
    }

    /// Puts the failed documents `chosen` picks back in the queue and opens
    /// the batch to workers (a paused one stays paused); returns their ids.
    /// Their attempts go on counting, as in a run, so their histories go on.
    static func retryFailed(_ batch: String, where chosen: (Document) -> Bool, on c: RedisConnection) throws -> [String] {
        let record = RedisBatch(id: batch)
        let plan = try record.plan(on: c)
        var failed: [Job] = []
        try RedisResults(batch: batch).scan(on: c) { bytes in
            let stored = try StoredLine.decode(bytes)
            guard stored.status == .failed && chosen(stored.document) else { return }
            var job = Job(document: stored.document)
            job.attempts = try DocumentResult.reading(outputLine: stored.line).attempts
            failed.append(job)
        }
        let ids = failed.map(\.document.id)
        try RedisResults(batch: batch).forget(ids, status: DocumentStatus.failed.name, on: c)
        try RedisFailures(batch: batch).forget(ids, on: c)
        try RedisWorkQueue(batch: batch, lease: .milliseconds(plan.leaseMilliseconds)).add(jobs: failed, on: c)
        if try record.state(on: c) != .paused { try record.setState(.open, on: c) }
        return ids
    }
}
