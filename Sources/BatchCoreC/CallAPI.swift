import BatchCore
import CBatchCore

// The functions a process callback calls; the same ones plugins reach
// through the bc_host_api vtable.

@c public func bc_host_api_get() -> UnsafePointer<bc_host_api> { HostAPI.table }

@c public func bc_call_set_output(_ call: OpaquePointer?, _ data: UnsafeRawPointer?, _ len: Int) -> Int32 {
    HostAPI.setOutput(call, data, len)
}

@c public func bc_call_set_output_json(_ call: OpaquePointer?, _ json: UnsafePointer<CChar>?, _ len: Int) -> Int32 {
    HostAPI.setOutputJSON(call, json, len)
}

@c public func bc_call_set_error(_ call: OpaquePointer?, _ message: UnsafePointer<CChar>?) -> Int32 {
    HostAPI.setError(call, message)
}

@c public func bc_call_add_usage(_ call: OpaquePointer?, _ input: UInt64, _ output: UInt64) -> Int32 {
    HostAPI.addUsage(call, input, output)
}

@c public func bc_call_add_units(_ call: OpaquePointer?, _ units: UInt64) -> Int32 {
    HostAPI.addUnits(call, units)
}

@c public func bc_call_retry_after(_ call: OpaquePointer?, _ ms: UInt64) -> Int32 {
    HostAPI.retryAfter(call, ms)
}

@c public func bc_call_is_cancelled(_ call: OpaquePointer?) -> Int32 {
    HostAPI.isCancelled(call)
}

@c public func bc_call_log(_ call: OpaquePointer?, _ level: Int32, _ message: UnsafePointer<CChar>?) {
    HostAPI.log(call, level, message)
}
