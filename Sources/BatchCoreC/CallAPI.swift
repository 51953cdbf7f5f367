import BatchCore
import CBatchCore

// The functions a process callback calls; the same ones plugins reach
// through the bc_host_api vtable. A failure also sets bc_error_message.

@c public func bc_host_api_get() -> UnsafePointer<bc_host_api> { HostAPI.table }

@c public func bc_call_set_output(_ call: OpaquePointer?, _ data: UnsafeRawPointer?, _ len: Int) -> Int32 {
    reported(HostAPI.setOutput(call, data, len), "bc_call_set_output")
}

@c public func bc_call_set_output_json(_ call: OpaquePointer?, _ json: UnsafePointer<CChar>?, _ len: Int) -> Int32 {
    reported(HostAPI.setOutputJSON(call, json, len), "bc_call_set_output_json")
}

@c public func bc_call_set_error(_ call: OpaquePointer?, _ message: UnsafePointer<CChar>?) -> Int32 {
    reported(HostAPI.setError(call, message), "bc_call_set_error")
}

@c public func bc_call_add_usage(_ call: OpaquePointer?, _ input: UInt64, _ output: UInt64) -> Int32 {
    reported(HostAPI.addUsage(call, input, output), "bc_call_add_usage")
}

@c public func bc_call_add_units(_ call: OpaquePointer?, _ units: UInt64) -> Int32 {
    reported(HostAPI.addUnits(call, units), "bc_call_add_units")
}

@c public func bc_call_retry_after(_ call: OpaquePointer?, _ ms: UInt64) -> Int32 {
    reported(HostAPI.retryAfter(call, ms), "bc_call_retry_after")
}

@c public func bc_call_is_cancelled(_ call: OpaquePointer?) -> Int32 {
    reported(HostAPI.isCancelled(call), "bc_call_is_cancelled")
}

@c public func bc_call_log(_ call: OpaquePointer?, _ level: Int32, _ message: UnsafePointer<CChar>?) {
    HostAPI.log(call, level, message)
}

@c public func bc_call_finish(_ call: OpaquePointer?, _ outcome: bc_outcome) -> Int32 {
    let rc = HostAPI.finish(call, Int32(bitPattern: outcome.rawValue))
    if rc == BC_ESTATE {
        fail(BatchCoreError(.state, "bc_call_finish: this bc_call is not pending: it finished already, timed out, or its process callback did not return BC_OUTCOME_PENDING"))
    } else if rc < 0 {
        fail(invalid("bc_call_finish: the call is NULL, or \(outcome.rawValue) is not BC_OUTCOME_DONE, _PARTIAL, _RETRY or _FAIL"))
    }
    return rc
}

/// bc_call_finish for `count` calls in one C call, so that a host which
/// holds a lock around every C call (Python's GIL) lets go of it once per
/// batch. Each call's result goes to `results[i]` (when given); returns how
/// many finished.
@c public func bc_call_finish_many(_ calls: UnsafePointer<OpaquePointer?>?, _ outcomes: UnsafePointer<bc_outcome>?,
                                   _ results: UnsafeMutablePointer<Int32>?, _ count: Int) -> Int32 {
    guard count == 0 || (calls != nil && outcomes != nil) else {
        return fail(invalid("bc_call_finish_many: calls and outcomes must not be NULL when count is \(count)"))
    }
    return finishEach(calls, outcomes, results, count) { _ in nil }
}

/// bc_call_finish_many, each call's output set first in the same crossing
/// into C (a NULL output leaves the call's as it is).
@c public func bc_call_finish_with_outputs(_ calls: UnsafePointer<OpaquePointer?>?, _ outcomes: UnsafePointer<bc_outcome>?,
                                           _ outputs: UnsafePointer<UnsafeRawPointer?>?, _ lengths: UnsafePointer<Int>?,
                                           _ json: UnsafePointer<UInt8>?, _ results: UnsafeMutablePointer<Int32>?,
                                           _ count: Int) -> Int32 {
    guard count == 0 || (calls != nil && outcomes != nil && outputs != nil && lengths != nil) else {
        return fail(invalid("bc_call_finish_with_outputs: calls, outcomes, outputs and lengths must not be NULL when count is \(count)"))
    }
    return finishEach(calls, outcomes, results, count) { i in
        outputs![i].map { (UnsafeRawBufferPointer(start: $0, count: lengths![i]), (json?[i] ?? 0) != 0) }
    }
}

/// HostAPI.finish of calls[i] with outcomes[i] and output(i) (its bytes and
/// whether they are JSON; nil: none) for each i below `count`, each result
/// in `results[i]` (when given); returns how many finished.
private func finishEach(_ calls: UnsafePointer<OpaquePointer?>?, _ outcomes: UnsafePointer<bc_outcome>?,
                        _ results: UnsafeMutablePointer<Int32>?, _ count: Int,
                        output: (Int) -> (bytes: UnsafeRawBufferPointer, json: Bool)?) -> Int32 {
    var finished: Int32 = 0
    for i in 0..<count {
        let given = output(i)
        let (rc, done) = HostAPI.finish(calls![i], Int32(bitPattern: outcomes![i].rawValue), output: given?.bytes,
                                        json: given?.json ?? false)
        results?[i] = rc
        if done { finished += 1 }
    }
    return finished
}

/// A bc_call_* result, with bc_error_message saying what went wrong.
private func reported(_ rc: Int32, _ function: String) -> Int32 {
    if rc == BC_ESTATE {
        fail(BatchCoreError(.state, "\(function): this bc_call has ended; a call handle is valid only while the process() call that received it runs"))
    } else if rc < 0 {
        fail(invalid("\(function): the call or data is NULL, or (set_output_json) the text is not valid JSON"))
    }
    return rc
}
