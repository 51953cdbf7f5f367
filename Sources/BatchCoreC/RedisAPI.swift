import BatchCore
import BatchCoreRedis
import CBatchCore
import Glibc

/// The C entry points of distributed batches: thin wrappers of BatchCoreRedis,
/// which `batchhost submit`, `worker`, `status` and `collect` use too.

private func pool(_ url: UnsafePointer<CChar>?) throws -> RedisConnectionPool {
    let text = try string(url, "url")
    let parsed: RedisURL
    do { parsed = try RedisURL(text) } catch let error as RedisError { throw invalid(error.message) }
    return try redisCall { try RedisConnectionPool(parsed, report: { writeStandardError("batchcore: \($0)\n") }) }
}

@c public func bc_redis_submit(_ out: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ batch: OpaquePointer?,
                               _ url: UnsafePointer<CChar>?, _ leaseMs: Int64) -> Int32 {
    capi {
        guard let out else { throw invalid("batch_id must not be NULL") }
        let handle = try handleOf(batch)
        guard (0...86_400_000).contains(leaseMs) else { throw invalid("lease_ms \(leaseMs): expected 0 (60 s) to 86400000 (a day)") }
        let plan = try handle.recorded.plan(tenant: handle.batch.batchOptions.tenant,
                                            leaseMilliseconds: leaseMs == 0 ? 60_000 : leaseMs)
        _ = try DistributedRun.batch(plan, engine: handle.batch.engine)  // checked as a worker will build it
        let (id, _) = try BatchSubmission(plan: plan, sources: handle.recorded.sources).submit(to: try pool(url))
        out.pointee = mallocString(id)
    }
}

@c public func bc_redis_status(_ out: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ url: UnsafePointer<CChar>?,
                               _ batchId: UnsafePointer<CChar>?) -> Int32 {
    capi {
        guard let out else { throw invalid("json must not be NULL") }
        let pool = try pool(url), id = batchId.map { String(cString: $0) }
        let json: JSONValue = try redisCall {
            try pool.with { c in
                guard let id else { return .array(try RedisBatch.all(on: c).map { try BatchSummary.read(RedisBatch(id: $0), on: c).json }) }
                return try BatchSummary.read(RedisBatch(id: id), on: c).json
            }
        }
        out.pointee = mallocString(json.text)
    }
}

/// Ends bc_redis_collect early when the caller's function returns non-zero.
private struct StopCollecting: Error {}

@c public func bc_redis_collect(_ url: UnsafePointer<CChar>?, _ batchId: UnsafePointer<CChar>?, _ onlyFailed: Int32,
                                _ fn: bc_line_fn?, _ userData: UnsafeMutableRawPointer?) -> Int32 {
    capi {
        guard let fn else { throw invalid("fn must not be NULL") }
        let pool = try pool(url), id = try string(batchId, "batch_id")
        do {
            try redisCall {
                try pool.with { c in
                    guard try RedisBatch(id: id).exists(on: c) else {
                        throw BatchCoreError(.notFound, "no batch '\(id)' in Redis at \(pool.url): bc_redis_status(&json, url, NULL) lists the batches there")
                    }
                    try RedisResults(batch: id).lines(onlyFailed: onlyFailed != 0, on: c) { line in
                        let length = line.last == UInt8(ascii: "\n") ? line.count - 1 : line.count
                        let stop = line.withUnsafeBufferPointer { $0.withMemoryRebound(to: CChar.self) { fn($0.baseAddress, length, userData) } }
                        if stop != 0 { throw StopCollecting() }
                    }
                }
            }
        } catch is StopCollecting {}
    }
}

/// What bc_redis_worker* points to: a BatchServer serving on a thread of its own.
final class RedisWorkerHandle: Sendable {
    private let stopRequest: StopRequest
    private let stopped = Locked(false)

    init(server: BatchServer) {
        stopRequest = server.stopRequest
        nonisolated(unsafe) let server = server  // used by the serving thread alone
        let stopped = stopped
        startThread(name: "batchcore-redis-worker") {
            server.serve()
            stopped.withLock { $0 = true }
        }
    }

    /// Asks the server to stop and waits until it has.
    func stop(hard: Bool) {
        stopRequest.request(hard: hard)
        while !stopped.withLock({ $0 }) { sleepSeconds(0.05) }
    }
}

@c public func bc_redis_worker_start(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ engine: OpaquePointer?,
                                     _ url: UnsafePointer<CChar>?, _ workers: Int32, _ tenant: UnsafePointer<CChar>?,
                                     _ quiet: Int32) -> Int32 {
    capi {
        guard let out else { throw invalid("out must not be NULL") }
        let engine = try borrow(engine, as: Engine.self, "engine")
        guard (0...Int32(BatchOptions.maxWorkersLimit)).contains(workers) else {
            throw invalid("workers \(workers): expected 0 (the engine's max_workers) to \(BatchOptions.maxWorkersLimit)")
        }
        let pool = try pool(url)
        let server = BatchServer(engine: engine, pool: pool,
                                 workers: workers == 0 ? engine.options.maxWorkers : Int(workers),
                                 tenant: tenant.map { String(cString: $0) }, quiet: quiet != 0,
                                 stopRequest: StopRequest(pool: pool), report: { writeStandardError("batchcore: \($0)\n") })
        out.pointee = retain(RedisWorkerHandle(server: server))
    }
}

@c public func bc_redis_worker_stop(_ worker: OpaquePointer?, _ mode: Int32) -> Int32 {
    capi {
        let worker = try borrow(worker, as: RedisWorkerHandle.self, "worker")
        guard mode == BC_CANCEL_GRACEFUL || mode == BC_CANCEL_HARD else {
            throw invalid("stop mode \(mode) is neither BC_CANCEL_GRACEFUL (0) nor BC_CANCEL_HARD (1)")
        }
        worker.stop(hard: mode == BC_CANCEL_HARD)
    }
}

@c public func bc_redis_worker_free(_ worker: OpaquePointer?) {
    guard let handle = try? borrow(worker, as: RedisWorkerHandle.self, "worker") else { return }
    handle.stop(hard: false)
    release(worker, as: RedisWorkerHandle.self)
}
