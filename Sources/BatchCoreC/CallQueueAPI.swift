import BatchCore
import CBatchCore

// bc_call_queue: calls handed to a host's event loop in batches (CallQueue).

@c public func bc_call_queue_new(_ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    capi {
        guard let out else { throw invalid("bc_call_queue_new: out must not be NULL") }
        guard let queue = CallQueue() else {
            throw BatchCoreError(.failure, "bc_call_queue_new: no eventfd for the queue (too many open files?)")
        }
        out.pointee = retain(queue)
    }
}

@c public func bc_call_queue_fd(_ queue: OpaquePointer?) -> Int32 {
    guard let queue else { return fail(invalid("bc_call_queue_fd: queue must not be NULL")) }
    return object(UnsafeRawPointer(queue), as: CallQueue.self).fd
}

/// A bc_plugin.process: the descriptor's state is the queue.
@c public func bc_call_queue_push(_ queue: UnsafeMutableRawPointer?, _ call: OpaquePointer?,
                                  _ doc: UnsafePointer<bc_doc>?) -> Int32 {
    guard let call, let doc else { return Int32(BC_OUTCOME_FAIL.rawValue) }
    guard let queue else {
        _ = HostAPI.setError(call, "bc_call_queue_push: the processor's state is NULL; register the descriptor with its bc_call_queue as user_data, or have create() set *state to one")
        return Int32(BC_OUTCOME_FAIL.rawValue)
    }
    object(queue, as: CallQueue.self).push(call, doc)
    return Int32(BC_OUTCOME_PENDING.rawValue)
}

@c public func bc_call_queue_take(_ queue: OpaquePointer?, _ calls: UnsafeMutablePointer<OpaquePointer?>?,
                                  _ docs: UnsafeMutablePointer<UnsafePointer<bc_doc>?>?, _ max: Int) -> Int {
    guard let queue, let calls else { return 0 }
    return object(UnsafeRawPointer(queue), as: CallQueue.self).take(max, into: calls, docs: docs)
}

@c public func bc_call_queue_free(_ queue: OpaquePointer?) {
    release(queue, as: CallQueue.self)
}
