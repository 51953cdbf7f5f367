import CBatchCore

/// The `bc_host_api` vtable handed to plugins, and the functions behind it.
/// The C API's `bc_call_*` functions forward here too, so plugins and host
/// processors share one implementation.
public enum HostAPI {
    public static func setOutput(_ call: OpaquePointer?, _ data: UnsafeRawPointer?, _ len: Int) -> Int32 {
        guard data != nil || len == 0 else { return invalid }
        return during(call) { $0.setOutput(UnsafeRawBufferPointer(start: data, count: len)) }
    }

    public static func setOutputJSON(_ call: OpaquePointer?, _ json: UnsafePointer<CChar>?, _ len: Int) -> Int32 {
        guard let json else { return invalid }
        let bytes = Array(UnsafeRawBufferPointer(start: json, count: len))
        var parsed = true
        let rc = during(call) { parsed = $0.setOutputJSON(bytes) }
        return rc == 0 && !parsed ? invalid : rc
    }

    public static func setError(_ call: OpaquePointer?, _ message: UnsafePointer<CChar>?) -> Int32 {
        guard let message else { return invalid }
        let text = String(cString: message)
        return during(call) { $0.error = text }
    }

    /// Counts are unsigned: nothing is negative; sums saturate (see `Count`).
    public static func addUsage(_ call: OpaquePointer?, _ input: UInt64, _ output: UInt64) -> Int32 {
        during(call) { $0.addUsage(input: input, output: output) }
    }

    public static func retryAfter(_ call: OpaquePointer?, _ ms: UInt64) -> Int32 {
        during(call) { $0.retryAfterMs = ms }
    }

    /// 1 when the call should stop, 0 when not; BC_ESTATE (also non-zero:
    /// stop) once the call has ended.
    public static func isCancelled(_ call: OpaquePointer?) -> Int32 {
        guard let call else { return 0 }
        return CallHandles.shared.withCall(call) { $0.isCancelled ? 1 : 0 } ?? ended
    }

    /// Finishes a call whose process() returned BC_OUTCOME_PENDING (or is
    /// about to): BC_EINVAL for a NULL call or an outcome other than done,
    /// partial, retry or fail; BC_ESTATE when the call is not pending any
    /// more (finished, timed out) or returned another outcome.
    public static func finish(_ call: OpaquePointer?, _ outcome: Int32) -> Int32 {
        finish(call, outcome, output: nil, json: false).code
    }

    /// Sets a pending call's output, then finishes it, reaching the call
    /// once: as setOutput (or setOutputJSON when `json`), then finish; a nil
    /// output leaves the call's output as it is. A JSON output that does not
    /// parse is not set and the call fails instead, saying so: BC_EINVAL,
    /// though the call finished. `finished` says whether it did.
    public static func finish(_ call: OpaquePointer?, _ outcome: Int32, output: UnsafeRawBufferPointer?,
                              json: Bool) -> (code: Int32, finished: Bool) {
        guard let call, var outcome = Outcome(rawValue: outcome), outcome != .pending else { return (invalid, false) }
        var refused = false
        // Taken out of the handle's lock first: finishing closes the handle.
        guard let context = CallHandles.shared.withCall(call, { context in
            if let output {
                if json {
                    refused = !context.setOutputJSON(Array(output))
                    if refused { context.error = "the processor's output is not valid JSON" }
                } else {
                    context.setOutput(output)
                }
            }
            return context
        }) else { return (ended, false) }
        if refused { outcome = .fail }
        guard context.finish(outcome) else { return (ended, false) }
        return (refused ? invalid : 0, true)
    }

    /// A message about the call's document; without a call (NULL, or one that
    /// has ended) it goes to standard error, attributed to no document.
    public static func log(_ call: OpaquePointer?, _ level: Int32, _ message: UnsafePointer<CChar>?) {
        guard let message else { return }
        let text = String(cString: message)
        // The call only lends its log sink: the message is sent outside the
        // handle's lock, so a slow event queue never holds up the call's end.
        let level = LogLevel(clamping: level)
        let context = call.flatMap { CallHandles.shared.withCall($0) { $0 } }
        if let context {
            context.log(level, text)
        } else {
            PluginLog.emit(level, text)
        }
    }

    public static func addUnits(_ call: OpaquePointer?, _ units: UInt64) -> Int32 {
        during(call) { $0.addUnits(units) }
    }

    /// Runs `body` with the call behind `call` while its process() runs: 0, or
    /// BC_EINVAL for NULL, BC_ESTATE once the call has ended.
    private static func during(_ call: OpaquePointer?, _ body: (CallContext) -> Void) -> Int32 {
        guard let call else { return invalid }
        return CallHandles.shared.withCall(call) { body($0); return 0 } ?? ended
    }

    public static func configGet(_ config: OpaquePointer?, _ key: UnsafePointer<CChar>?) -> UnsafePointer<CChar>? {
        guard let config, let key else { return nil }
        let stage = Unmanaged<StageConfig>.fromOpaque(UnsafeRawPointer(config)).takeUnretainedValue()
        return stage.cValue(String(cString: key))
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

    public static func addPrepareUsage(_ config: OpaquePointer?, _ input: UInt64, _ output: UInt64) -> Int32 {
        guard let config else { return invalid }
        stageConfig(config).prepareUsage.withLock { $0 = $0.adding(input: input, output: output) }
        return 0
    }

    private static func stageConfig(_ config: OpaquePointer) -> StageConfig {
        Unmanaged<StageConfig>.fromOpaque(UnsafeRawPointer(config)).takeUnretainedValue()
    }

    static let invalid: Int32 = BatchCoreError.Code.invalidArgument.rawValue
    static let ended: Int32 = BatchCoreError.Code.state.rawValue

    /// The static vtable; lives for the whole process.
    public nonisolated(unsafe) static let table: UnsafePointer<bc_host_api> = {
        let table = UnsafeMutablePointer<bc_host_api>.allocate(capacity: 1)
        table.initialize(to: bc_host_api(
            struct_size: UInt32(MemoryLayout<bc_host_api>.size),
            abi_version: UInt32(BC_PLUGIN_ABI_MAJOR),
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
            shared: { shared($0, $1) },
            finish: { finish($0, $1) },
            add_prepare_usage: { addPrepareUsage($0, $1, $2) }
        ))
        return UnsafePointer(table)
    }()
}

/// Logs from plugins outside any call (e.g. in create) go to stderr.
enum PluginLog {
    static func emit(_ level: LogLevel, _ text: String) {
        Diagnostics.write("plugin \(level.name): \(text)")
    }
}
