import BatchCore
import CBatchCore
import Glibc

/// What bc_batch* points to.
final class BatchHandle {
    let batch: Batch
    /// For bc_redis_submit; C handles are used one call at a time.
    var recorded = RecordedPlan()
    init(_ batch: Batch) { self.batch = batch }

    func add(_ source: any DocumentSource) throws {
        try batch.add(source)
        recorded.add(source)
    }

    func add(contents: [ContentSource]) throws {
        try batch.add(contents: contents)
        recorded.add(contents: contents)
    }
}

private func batchOf(_ pointer: OpaquePointer?) throws -> Batch {
    try handleOf(pointer).batch
}

func handleOf(_ pointer: OpaquePointer?) throws -> BatchHandle {
    try borrow(pointer, as: BatchHandle.self, "batch")
}

@c public func bc_batch_new(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ engine: OpaquePointer?) -> Int32 {
    capi {
        guard let out else { throw invalid("out must not be NULL") }
        let engine = try borrow(engine, as: Engine.self, "engine")
        out.pointee = retain(BatchHandle(Batch(engine: engine)))
    }
}

@c public func bc_batch_free(_ pointer: OpaquePointer?) {
    guard let handle = try? borrow(pointer, as: BatchHandle.self, "batch") else { return }
    // Wait until processors stopped and the last event was delivered, so no
    // callback outlives the handle. From the batch's own event handler or
    // processor calls this is impossible (BC_ESTATE): the batch, cancelled
    // hard, then ends in the background and the engine lets go of it. A
    // run that ended has stopped its processors and holds neither the batch
    // nor the engine: freeing the handle frees them now.
    stopAndWait(handle.batch)
    release(pointer, as: BatchHandle.self)
}

/// Cancels the batch hard and waits for it, unless that is impossible
/// (called from the batch's own event handler or processor call). Hard even
/// when every document is done: the events still queued for a slow handler
/// are dropped rather than waited for.
private func stopAndWait(_ batch: Batch) {
    batch.cancel(hard: true)
    _ = try? batch.wait()
}

@c public func bc_batch_set(_ batch: OpaquePointer?, _ key: UnsafePointer<CChar>?, _ value: UnsafePointer<CChar>?) -> Int32 {
    capi {
        let handle = try handleOf(batch), key = try string(key, "key"), value = try string(value, "value")
        try handle.batch.set(key, value)
        handle.recorded.set(key, value)
    }
}

@c public func bc_batch_add_stage(_ batch: OpaquePointer?, _ processor: UnsafePointer<CChar>?, _ label: UnsafePointer<CChar>?) -> Int32 {
    capi {
        let handle = try handleOf(batch), processor = try string(processor, "processor")
        let unique = try handle.batch.addStage(processor: processor, label: label.map { String(cString: $0) })
        handle.recorded.addStage(processor: processor, label: unique)
    }
}

@c public func bc_batch_set_stage(_ batch: OpaquePointer?, _ stage: UnsafePointer<CChar>?, _ key: UnsafePointer<CChar>?, _ value: UnsafePointer<CChar>?) -> Int32 {
    capi {
        let handle = try handleOf(batch), stage = stage.map { String(cString: $0) }
        let key = try string(key, "key"), value = try string(value, "value")
        try handle.batch.setStage(stage, key, value)
        handle.recorded.setStage(stage, key, value)
    }
}

@c public func bc_batch_add_file(_ batch: OpaquePointer?, _ path: UnsafePointer<CChar>?, _ id: UnsafePointer<CChar>?, _ metadata: UnsafePointer<CChar>?) -> Int32 {
    capi {
        let batch = try handleOf(batch)
        let path = try fileName(path, "path")
        if RemoteInput.isPrefix(path) && id == nil && metadata == nil {
            try batch.add(RemoteInput.source(path))
            return
        }
        try batch.add(FileSource(path: path, id: id.map { FileNameBytes.string(cString: $0) },
                                 metadata: metadata.map { String(cString: $0) }))
    }
}

@c public func bc_batch_add_content(_ batch: OpaquePointer?, _ id: UnsafePointer<CChar>?, _ data: UnsafeRawPointer?,
                                    _ length: Int, _ metadata: UnsafePointer<CChar>?) -> Int32 {
    capi {
        let batch = try handleOf(batch)
        try batch.add(contentSource(id: id, data: data, length: length, metadata: metadata))
    }
}

@c public func bc_batch_add_contents(_ batch: OpaquePointer?, _ ids: UnsafePointer<UnsafePointer<CChar>?>?,
                                     _ data: UnsafePointer<UnsafeRawPointer?>?, _ lengths: UnsafePointer<Int>?,
                                     _ metadata: UnsafePointer<UnsafePointer<CChar>?>?, _ count: Int) -> Int32 {
    capi {
        let batch = try handleOf(batch)
        guard count >= 0 else { throw invalid("count \(UInt(bitPattern: count)) is too large") }
        guard count == 0 || (ids != nil && data != nil && lengths != nil) else {
            throw invalid("ids, data and lengths must not be NULL when count is \(count)")
        }
        try batch.add(contents: ContentSource.many(count) { i in
            try contentSource(id: ids![i], data: data![i], length: lengths![i], metadata: metadata?[i])
        })
    }
}

/// A document held in memory, from C arguments: its bytes are copied.
private func contentSource(id: UnsafePointer<CChar>?, data: UnsafeRawPointer?, length: Int,
                           metadata: UnsafePointer<CChar>?) throws -> ContentSource {
    let id = try fileName(id, "id")
    guard data != nil || length == 0 else { throw invalid("the data of '\(id)' is NULL but its length is \(length)") }
    let content = data.map { Array(UnsafeRawBufferPointer(start: $0, count: length)) } ?? []
    return try ContentSource(id: id, content: content, metadata: metadata.map { String(cString: $0) })
}

@c public func bc_batch_add_dir(_ batch: OpaquePointer?, _ dir: UnsafePointer<CChar>?, _ glob: UnsafePointer<CChar>?) -> Int32 {
    capi {
        let batch = try handleOf(batch)
        let dir = try fileName(dir, "dir")
        if RemoteInput.isPrefix(dir) && glob == nil {
            try batch.add(RemoteInput.source(dir))
            return
        }
        try batch.add(DirectorySource(root: dir, glob: glob.map { FileNameBytes.string(cString: $0) }))
    }
}

@c public func bc_batch_add_manifest(_ batch: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> Int32 {
    capi {
        let batch = try handleOf(batch)
        try batch.add(ManifestSource(path: fileName(path, "path")))
    }
}

@c public func bc_batch_add_list(_ batch: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> Int32 {
    capi {
        let batch = try handleOf(batch)
        try batch.add(ListSource(path: fileName(path, "path")))
    }
}

@c public func bc_batch_set_event_callback(_ batch: OpaquePointer?, _ callback: bc_event_fn?, _ userData: UnsafeMutableRawPointer?) -> Int32 {
    capi {
        let batch = try batchOf(batch)
        guard let callback else { throw invalid("callback must not be NULL") }
        let delivery = EventDelivery(callback: callback, userData: userData)
        try batch.onEvent { delivery.deliver($0) }
    }
}

@c public func bc_batch_start(_ batch: OpaquePointer?) -> Int32 {
    capi { try batchOf(batch).start() }
}

@c public func bc_batch_wait(_ batch: OpaquePointer?, _ timeoutMs: Int64) -> Int32 {
    capi {
        let batch = try batchOf(batch)
        let finished = try batch.wait(timeout: timeoutMs < 0 ? nil : Double(timeoutMs) / 1000)
        guard finished else {
            throw BatchCoreError(.timeout, "the batch is still running after \(timeoutMs) ms")
        }
        if let error = batch.error { throw error }
    }
}

@c public func bc_batch_cancel(_ batch: OpaquePointer?, _ mode: Int32) -> Int32 {
    capi {
        let batch = try batchOf(batch)
        guard mode == BC_CANCEL_GRACEFUL || mode == BC_CANCEL_HARD else {
            throw invalid("cancel mode \(mode) is neither BC_CANCEL_GRACEFUL (0) nor BC_CANCEL_HARD (1)")
        }
        batch.cancel(hard: mode == BC_CANCEL_HARD)
    }
}

@c public func bc_batch_retry(_ requeued: UnsafeMutablePointer<Int>?, _ batch: OpaquePointer?,
                              _ ids: UnsafePointer<UnsafePointer<CChar>?>?, _ count: Int) -> Int32 {
    capi {
        let batch = try batchOf(batch)
        guard count == 0 || ids != nil else { throw invalid("ids must not be NULL when count is \(count)") }
        let names = try (0..<count).map { i -> String in
            guard let id = ids![i] else { throw invalid("ids[\(i)] is NULL") }
            return String(cString: id)
        }
        let done = try batch.retry(ids: names)
        requeued?.pointee = done.count
    }
}

@c public func bc_batch_pause(_ batch: OpaquePointer?, _ paused: Int32) -> Int32 {
    capi {
        guard try batchOf(batch).setPaused(paused != 0) else { throw BatchCoreError(.state, "the batch is not running") }
    }
}

@c public func bc_batch_stats(_ out: UnsafeMutablePointer<bc_stats>?, _ batch: OpaquePointer?) -> Int32 {
    capi {
        guard let out else { throw invalid("out must not be NULL") }
        try copyVersioned(bc_stats(try batchOf(batch).stats), to: out)
    }
}

extension bc_stats {
    init(_ s: BatchStats) {
        self.init(
            struct_size: UInt32(MemoryLayout<bc_stats>.size),
            state: UInt32(s.state.rawValue),
            total: s.total,
            total_known: s.totalKnown ? 1 : 0,
            workers: UInt32(s.workers),
            ok: s.ok, partial: s.partial, failed: s.failed, skipped: s.skipped,
            in_flight: s.inFlight, retry_waiting: s.retryWaiting,
            attempts: s.attempts, retries: s.retries,
            input_tokens: s.inputTokens, output_tokens: s.outputTokens,
            elapsed_seconds: s.elapsedSeconds, docs_per_hour: s.docsPerHour, mean_doc_ms: s.meanDocMs,
            resumed: s.resumed, deduplicated: s.deduplicated, rate_limit_waiting: s.rateLimitWaiting,
            timeouts: s.timeouts, units: s.units, cost_usd: s.costUSD,
            estimated_total_cost_usd: s.estimatedTotalCostUSD, budget_reached: s.budgetReached ? 1 : 0,
            reserved: 0, sampled_from: s.sampledFrom, projected_seconds: s.projectedSeconds,
            projected_cost_usd: s.projectedCostUSD)
    }
}
