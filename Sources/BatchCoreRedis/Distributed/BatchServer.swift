import BatchCore
import Glibc

/// What a worker process does: starts a run of each open batch it can serve
/// on its engine (whose scheduler shares the worker slots among them), keeps
/// their heartbeats, and drops runs that ended.
public final class BatchServer: @unchecked Sendable {  // unchecked: `running` and `refused` are used by the serving thread only; others read `served`
    public let consumer: String
    /// Asked from any thread (a signal, a host): `serve()` returns once it has stopped.
    public let stopRequest: StopRequest
    private let engine: Engine
    private let pool: RedisConnectionPool
    private let workers: Int
    private let tenant: String?
    private let quiet: Bool
    /// Where messages go (one line each, without a newline).
    private let report: @Sendable (String) -> Void
    private var running: [String: (batch: Batch, queue: SharedWorkQueue?)] = [:]
    /// Batches this worker cannot run (a processor missing here), said once each.
    private var refused: Set<String> = []
    /// The batches it runs, by id, for readers on other threads (`--http`).
    private let servedBatches = Locked([String: Batch]())

    public var served: [String: Batch] { servedBatches.withLock { $0 } }

    /// `stopRequest` is made for `pool`: stopping also stops its connections' waits to reconnect.
    public init(engine: Engine, pool: RedisConnectionPool, workers: Int, tenant: String?, quiet: Bool,
                stopRequest: StopRequest, report: @escaping @Sendable (String) -> Void) {
        self.engine = engine
        self.pool = pool
        self.workers = workers
        self.tenant = tenant
        self.quiet = quiet
        self.report = report
        self.stopRequest = stopRequest
        var host = [UInt8](repeating: 0, count: 256)
        gethostname(&host, host.count - 1)
        consumer = "\(String(decoding: host.prefix { $0 != 0 }, as: UTF8.self)):\(getpid())"
    }

    /// Progress messages, unless quiet; problems go to `report` always.
    public func say(_ message: String) {
        if !quiet { report(message) }
    }

    /// Serves open batches until `stopRequest` is made, then stops every run:
    /// each finishes what it holds, or hands it back once a hard stop is asked.
    public func serve() {
        say("worker \(consumer) serving \(pool.url) with \(workers) workers")
        while stopRequest.level == 0 {
            serveOpenBatches()
            sleepSeconds(0.1)
        }
        say("worker \(consumer): stopping; finishing the documents it holds")
        stop(hard: { self.stopRequest.level > 1 })
        say("worker \(consumer) stopped")
    }

    private func serveOpenBatches() {
        dropEnded()
        do {
            let open = try pool.with { try RedisBatch.openIds(on: $0) }
            for id in open where running[id] == nil && !refused.contains(id) { start(id) }
            try heartbeat()
        } catch {
            say("worker \(consumer): \(error)")
        }
    }

    /// Stops every run: each finishes what it holds, or with `hard()` true hands it back.
    private func stop(hard: @escaping () -> Bool) {
        for (batch, queue) in running.values {
            queue?.close()
            batch.cancel()
        }
        for (batch, _) in running.values {
            while !((try? batch.wait(timeout: 0.5)) ?? true) {
                if hard() { batch.cancel(hard: true) }
            }
        }
        running.removeAll()
        servedBatches.withLock { $0.removeAll() }
    }

    private func start(_ id: String) {
        let record = RedisBatch(id: id)
        do {
            let plan = try pool.with { try record.plan(on: $0) }
            if let tenant, plan.tenant != tenant { return refuse(id, nil) }
            for stage in plan.stages {
                do {
                    _ = try engine.processor(named: stage.processor)
                } catch {
                    return refuse(id, "worker \(consumer) has no processor '\(stage.processor)' for batch \(id); leaving the batch to other workers (\(error))")
                }
            }
            let batch = try DistributedRun.batch(plan, engine: engine, workers: workers)
            let seams = DistributedRun.seams(for: batch, record: record, plan: plan, consumer: consumer,
                                             claimSize: min(64, workers * 2), pool: pool, log: report)
            try batch.start(seams: seams)
            running[id] = (batch, seams.queue as? SharedWorkQueue)
            servedBatches.withLock { $0[id] = batch }
            say("worker \(consumer): serving batch \(id) (" + plan.stages.map(\.label).joined(separator: " → ") + ")")
        } catch {
            refuse(id, "worker \(consumer) cannot run batch \(id): \(error)")
        }
    }

    private func refuse(_ id: String, _ message: String?) {
        refused.insert(id)
        if let message { report(message) }
    }

    /// Runs that ended: the batch finished or was cancelled, its budget was
    /// reached (then it is closed for every worker), or the run stopped on an
    /// error (then the next round starts it again).
    private func dropEnded() {
        for (id, (batch, _)) in running where !batch.isRunning {
            running[id] = nil
            servedBatches.withLock { $0[id] = nil }
            if batch.stats.budgetReached {
                say("worker \(consumer): batch \(id) reached its budget; no more of its documents start")
                do { try pool.with { try RedisBatch(id: id).setState(.cancelled, on: $0) } } catch { say("worker \(consumer): \(error)") }
            } else if let error = batch.error {
                say("worker \(consumer): batch \(id) stopped here: \(error.message); starting it again")
            }
        }
    }

    private func heartbeat() throws {
        guard !running.isEmpty else { return }
        let now = Int64(wallSeconds() * 1000)
        _ = try pool.with { c in try c.pipeline(running.keys.map { ["HSET", RedisKeys(batch: $0).workersSeen, consumer, now] }) }
    }
}

/// A worker's stop: 1 finishes what it holds, 2 hands it back. A worker whose
/// server is down stops waiting to reconnect, so it exits promptly.
public final class StopRequest: Sendable {
    private let requested = Locked(0)
    private let pool: RedisConnectionPool

    public init(pool: RedisConnectionPool) { self.pool = pool }

    public var level: Int { requested.withLock { $0 } }

    public func request(hard: Bool) {
        requested.withLock { $0 = max($0, hard ? 2 : 1) }
        pool.stop.request()
    }
}
