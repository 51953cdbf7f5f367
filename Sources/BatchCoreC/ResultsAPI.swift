import BatchCore
import CBatchCore
import Glibc

/// What bc_results* points to: a source of results (a snapshot in memory,
/// or a journal read as it goes) and the C copies of the current one, freed
/// at the next step.
final class ResultsCursor {
    private let source: () throws -> DocumentResult?
    private var allocations: [UnsafeMutableRawPointer] = []

    init(_ results: ArraySlice<DocumentResult>) {
        var index = results.startIndex
        source = {
            guard index < results.endIndex else { return nil }
            defer { index += 1 }
            return results[index]
        }
    }

    init(_ source: @escaping () throws -> DocumentResult?) { self.source = source }

    deinit { freeCurrent() }

    private func freeCurrent() {
        allocations.forEach { free($0) }
        allocations = []
    }

    /// A copy of `s` as a C string; the stray bytes of a file name that is
    /// not UTF-8 are given back as they were (see `FileNameBytes`).
    private func keep(_ s: String?) -> UnsafePointer<CChar>? {
        guard let s else { return nil }
        let copy = FileNameBytes.withCString(s) { strdup($0) }!
        allocations.append(UnsafeMutableRawPointer(copy))
        return UnsafePointer(copy)
    }

    private func keep(_ bytes: [UInt8]?) -> UnsafePointer<UInt8>? {
        guard let bytes else { return nil }
        let copy = malloc(max(1, bytes.count))!
        bytes.withUnsafeBytes { copy.copyMemory(from: $0.baseAddress ?? UnsafeRawPointer(copy), byteCount: bytes.count) }
        allocations.append(copy)
        return UnsafePointer(copy.assumingMemoryBound(to: UInt8.self))
    }

    /// Up to `capacity` next results into `out`, an array whose elements are
    /// `stride` bytes apart (the caller's sizeof(bc_result)); their strings
    /// live until the next step. Returns how many.
    func next(into out: UnsafeMutableRawPointer, stride: Int, capacity: Int) throws -> Int {
        freeCurrent()
        var count = 0
        while count < capacity, let result = try source() {
            let element = out + count * stride
            element.storeBytes(of: UInt32(stride), as: UInt32.self)  // the caller sets only the first's
            try copyVersioned(copy(result), to: element.assumingMemoryBound(to: bc_result.self))
            count += 1
        }
        return count
    }

    private func copy(_ r: DocumentResult) -> bc_result {
        bc_result(
            struct_size: UInt32(MemoryLayout<bc_result>.size),
            status: UInt32(r.status.rawValue),
            id: keep(r.document.id),
            path: keep(r.document.path),
            output: keep(r.output),
            output_len: r.output?.count ?? 0,
            error: keep(r.error),
            attempts: UInt32(r.attempts),
            failed_stage: UInt32(r.failedStage ?? 0),
            duration_ms: r.durationMs,
            input_tokens: r.inputTokens,
            output_tokens: r.outputTokens,
            output_is_json: r.outputIsJSON ? 1 : 0,
            reserved: 0,
            units: r.units,
            cost_usd: r.costUSD,
            failed_stage_label: keep(r.failedStageLabel),
            metadata_json: keep(r.document.metadata == "{}" ? nil : r.document.metadata),
            duplicate_of: keep(r.duplicateOf))
    }
}

@c public func bc_batch_results(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ batch: OpaquePointer?) -> Int32 {
    bc_batch_results_from(out, batch, 0)
}

@c public func bc_batch_results_from(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ batch: OpaquePointer?,
                                     _ first: UInt) -> Int32 {
    capi {
        guard let out else { throw invalid("out must not be NULL") }
        let batch = try borrow(batch, as: BatchHandle.self, "batch").batch
        out.pointee = retain(ResultsCursor(batch.finishedResults.dropFirst(Int(clamping: first))))
    }
}

@c public func bc_results_next(_ out: UnsafeMutablePointer<bc_result>?, _ results: OpaquePointer?) -> Int32 {
    bc_results_next_many(out, 1, results)
}

@c public func bc_results_next_many(_ out: UnsafeMutablePointer<bc_result>?, _ capacity: UInt,
                                    _ results: OpaquePointer?) -> Int32 {
    var produced = 0
    let rc = capi {
        guard let out else { throw invalid("out must not be NULL") }
        let cursor = try borrow(results, as: ResultsCursor.self, "results")
        let stride = Int(UnsafeRawPointer(out).load(as: UInt32.self))
        guard stride >= MemoryLayout<UInt32>.size, capacity <= 1 || stride % MemoryLayout<bc_result>.alignment == 0 else {
            throw invalid("struct_size must be set to sizeof the struct (got \(stride))")
        }
        produced = try cursor.next(into: UnsafeMutableRawPointer(out), stride: stride, capacity: Int(min(capacity, UInt(Int32.max))))
    }
    return rc == BC_OK ? Int32(produced) : rc
}

@c public func bc_results_free(_ results: OpaquePointer?) {
    release(results, as: ResultsCursor.self)
}
