import Synchronization

/// One processor call: collects what the processor reports. Passed to C as
/// the opaque `bc_call *`, valid only during the call, on its thread.
public final class CallContext: @unchecked Sendable {
    public var output: [UInt8]? = nil
    public var outputIsJSON = false
    public var error: String? = nil
    public var inputTokens: UInt64 = 0
    public var outputTokens: UInt64 = 0
    public var units: UInt64 = 0
    public var retryAfterMs: UInt64? = nil
    /// When this attempt runs out of time (monotonic nanoseconds); nil: never.
    public var deadline: UInt64? = nil
    let cancelFlag: CancelFlag
    let logSink: (@Sendable (Int32, String) -> Void)?

    public init(cancelFlag: CancelFlag, logSink: (@Sendable (Int32, String) -> Void)? = nil) {
        self.cancelFlag = cancelFlag
        self.logSink = logSink
    }

    public var isCancelled: Bool { cancelFlag.isSet }

    /// The error of an attempt that ran out of time.
    public static func timeoutMessage(_ seconds: Double) -> String {
        let text = seconds < 1 ? "\(Int((seconds * 1000).rounded()))ms"
            : seconds == seconds.rounded() ? "\(Int(seconds))s" : "\(seconds)s"
        return "timed out after \(text)"
    }

    public func setOutput<Bytes: Sequence<UInt8>>(_ bytes: Bytes) {
        output = Array(bytes)
        outputIsJSON = false
    }

    /// Sets JSON output; returns false (and changes nothing) if it does not parse.
    @discardableResult
    public func setOutputJSON(_ bytes: [UInt8]) -> Bool {
        guard (try? JSONValue.parse(bytes)) != nil else { return false }
        output = bytes
        outputIsJSON = true
        return true
    }

    public func log(_ level: Int32, _ message: String) {
        logSink?(level, message)
    }

    /// Opaque pointer for C; valid while `self` is alive.
    public var opaque: OpaquePointer { OpaquePointer(Unmanaged.passUnretained(self).toOpaque()) }

    public static func from(_ pointer: OpaquePointer) -> CallContext {
        Unmanaged<CallContext>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue()
    }
}

/// Set once to ask in-flight calls to stop.
public final class CancelFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    public init() {}
    public var isSet: Bool { flag.load(ordering: .relaxed) }
    public func set() { flag.store(true, ordering: .relaxed) }
}
