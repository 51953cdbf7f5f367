import CBatchCore

/// The `bc_host_api` vtable handed to plugins, and the functions behind it.
/// The C API's `bc_call_*` functions forward here too, so plugins and host
/// processors share one implementation.
public enum HostAPI {
    public static func setOutput(_ call: OpaquePointer?, _ data: UnsafeRawPointer?, _ len: Int) -> Int32 {
        guard let call, data != nil || len == 0 else { return invalid }
        CallContext.from(call).setOutput(UnsafeRawBufferPointer(start: data, count: len))
        return 0
    }

    public static func setOutputJSON(_ call: OpaquePointer?, _ json: UnsafePointer<CChar>?, _ len: Int) -> Int32 {
        guard let call, let json else { return invalid }
        let bytes = UnsafeRawBufferPointer(start: json, count: len)
        return CallContext.from(call).setOutputJSON(Array(bytes)) ? 0 : invalid
    }

    public static func setError(_ call: OpaquePointer?, _ message: UnsafePointer<CChar>?) -> Int32 {
        guard let call, let message else { return invalid }
        CallContext.from(call).error = String(cString: message)
        return 0
    }

    public static func addUsage(_ call: OpaquePointer?, _ input: UInt64, _ output: UInt64) -> Int32 {
        guard let call else { return invalid }
        let context = CallContext.from(call)
        context.inputTokens &+= input
        context.outputTokens &+= output
        return 0
    }

    public static func retryAfter(_ call: OpaquePointer?, _ ms: UInt64) -> Int32 {
        guard let call else { return invalid }
        CallContext.from(call).retryAfterMs = ms
        return 0
    }

    public static func isCancelled(_ call: OpaquePointer?) -> Int32 {
        guard let call else { return 0 }
        return CallContext.from(call).isCancelled ? 1 : 0
    }

    public static func log(_ call: OpaquePointer?, _ level: Int32, _ message: UnsafePointer<CChar>?) {
        guard let message else { return }
        let text = String(cString: message)
        if let call {
            CallContext.from(call).log(level, text)
        } else {
            PluginLog.emit(level, text)
        }
    }

    public static func configGet(_ config: OpaquePointer?, _ key: UnsafePointer<CChar>?) -> UnsafePointer<CChar>? {
        guard let config, let key else { return nil }
        let stage = Unmanaged<StageConfig>.fromOpaque(UnsafeRawPointer(config)).takeUnretainedValue()
        return stage.cValue(String(cString: key))
    }

    public static func addUnits(_ call: OpaquePointer?, _ units: UInt64) -> Int32 {
        guard let call else { return invalid }
        CallContext.from(call).units &+= units
        return 0
    }

    public static func setPrices(_ config: OpaquePointer?, _ input: Double, _ output: Double) -> Int32 {
        guard let config, input.isFinite, output.isFinite, input >= 0, output >= 0 else { return invalid }
        let stage = Unmanaged<StageConfig>.fromOpaque(UnsafeRawPointer(config)).takeUnretainedValue()
        stage.defaultPrices.withLock { $0 = TokenPrices(input: input, output: output) }
        return 0
    }

    public static func setShared(_ config: OpaquePointer?, _ data: UnsafeRawPointer?, _ len: Int) -> Int32 {
        guard let config, data != nil || len == 0 else { return invalid }
        stageConfig(config).shared.set(UnsafeRawBufferPointer(start: data, count: len))
        return 0
    }

    public static func shared(_ config: OpaquePointer?, _ len: UnsafeMutablePointer<Int>?) -> UnsafeRawPointer? {
        let (pointer, count) = config.map { stageConfig($0).shared.raw } ?? (nil, 0)
        len?.pointee = count
        return pointer
    }

    private static func stageConfig(_ config: OpaquePointer) -> StageConfig {
        Unmanaged<StageConfig>.fromOpaque(UnsafeRawPointer(config)).takeUnretainedValue()
    }

    static let invalid: Int32 = BatchCoreError.Code.invalidArgument.rawValue

    /// The static vtable; lives for the whole process.
    public nonisolated(unsafe) static let table: UnsafePointer<bc_host_api> = {
        let table = UnsafeMutablePointer<bc_host_api>.allocate(capacity: 1)
        table.initialize(to: bc_host_api(
            struct_size: UInt32(MemoryLayout<bc_host_api>.size),
            abi_version: UInt32(BC_PLUGIN_ABI_VERSION),
            set_output: { setOutput($0, $1, $2) },
            set_output_json: { setOutputJSON($0, $1, $2) },
            set_error: { setError($0, $1) },
            add_usage: { addUsage($0, $1, $2) },
            retry_after: { retryAfter($0, $1) },
            is_cancelled: { isCancelled($0) },
            log: { log($0, $1, $2) },
            config_get: { configGet($0, $1) },
            add_units: { addUnits($0, $1) },
            set_prices: { setPrices($0, $1, $2) },
            set_shared: { setShared($0, $1, $2) },
            shared: { shared($0, $1) }
        ))
        return UnsafePointer(table)
    }()
}

/// Logs from plugins outside any call (e.g. in create) go to stderr.
enum PluginLog {
    static func emit(_ level: Int32, _ text: String) {
        let names = ["debug", "info", "warning", "error"]
        let name = (0..<names.count).contains(Int(level)) ? names[Int(level)] : "log"
        Diagnostics.write("plugin \(name): \(text)")
    }
}
