import Synchronization

/// One processor call: collects what the processor reports. C code reaches
/// it through a `bc_call *` handle (`withHandle`), valid only during the call.
public final class CallContext: @unchecked Sendable {
    public var output: [UInt8]? = nil
    public var outputIsJSON = false
    public var error: String? = nil
    public var inputTokens: UInt64 = 0
    public var outputTokens: UInt64 = 0
    public var units: UInt64 = 0
    public var retryAfterMs: UInt64? = nil
    /// The attempt's time limit in seconds, and when it runs out (monotonic
    /// nanoseconds); nil: none.
    public var timeout: Double? = nil
    public var deadline: UInt64? = nil
    /// After a timeout, time a child process gets between SIGTERM and SIGKILL.
    public var killGraceNanos: UInt64 = 2_000_000_000
    /// Who settled the call: nobody yet, its worker (it returned), or the
    /// engine's watchdog (it overran its deadline).
    private let settled = Atomic<UInt8>(Settled.open.rawValue)
    public enum Settled: UInt8, Sendable { case open, returned, timedOut }
    let cancelFlag: CancelFlag
    let logSink: (@Sendable (LogLevel, String) -> Void)?

    public init(cancelFlag: CancelFlag, logSink: (@Sendable (LogLevel, String) -> Void)? = nil) {
        self.cancelFlag = cancelFlag
        self.logSink = logSink
    }

    private let overran = Atomic<Bool>(false)

    /// True once the batch is cancelled hard or this call overran its deadline.
    public var isCancelled: Bool { cancelFlag.isSet || overran.load(ordering: .acquiring) }

    /// The deadline passed: the call is asked to stop (`isCancelled`), and a
    /// `.retry` it returns counts as a timeout.
    public var overranDeadline: Bool { overran.load(ordering: .acquiring) }
    public func markOverran() { overran.store(true, ordering: .releasing) }

    /// Settles the call as `by` unless it is settled already; true when this
    /// claim won (exactly one of the worker and the watchdog wins).
    public func claim(_ by: Settled) -> Bool {
        settled.compareExchange(expected: Settled.open.rawValue, desired: by.rawValue, ordering: .acquiringAndReleasing).exchanged
    }

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

    public func log(_ level: LogLevel, _ message: String) {
        logSink?(level, message)
    }

    /// Adds usage (saturating, see `Count`).
    public func addUsage(input: UInt64, output: UInt64) {
        inputTokens = Count.sum(inputTokens, input)
        outputTokens = Count.sum(outputTokens, output)
    }

    public func addUnits(_ count: UInt64) {
        units = Count.sum(units, count)
    }

    /// Runs `body` with a `bc_call *` for this call. The handle is refused
    /// (BC_ESTATE) once `body` returned, even if a processor kept it.
    public func withHandle<R>(_ body: (OpaquePointer) -> R) -> R {
        let handle = CallHandles.shared.open(self)
        defer { CallHandles.shared.close(handle) }
        return body(handle)
    }
}

/// Set once to ask in-flight calls to stop.
public final class CancelFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    public init() {}
    public var isSet: Bool { flag.load(ordering: .relaxed) }
    public func set() { flag.store(true, ordering: .relaxed) }
}
