import Synchronization

/// One processor call: collects what the processor reports. C code reaches
/// it through a `bc_call *` handle (`withHandle`), valid only during the
/// call — or, for a call that returned `.pending`, until `finish`.
// @unchecked: the reported fields are written by the processor during the
// call and read by the engine after it (the handle's slot lock, or the
// completion lock for a pending call, orders the two).
public final class CallContext: @unchecked Sendable {
    public var output: [UInt8]? = nil
    public var outputIsJSON = false
    public var error: String? = nil
    /// The end of what the call wrote to stderr, when it ran a command.
    public var stderrTail: String? = nil
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
        guard bytes.withUnsafeBufferPointer(JSONScanner.isValid) else { return false }
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

    /// Runs a C `process` with a `bc_call *` for this call; `body` returns a
    /// raw bc_outcome. The handle is refused once `body` returned — except
    /// after BC_OUTCOME_PENDING, when it lasts until the call finishes.
    public func withProcessHandle(_ body: (OpaquePointer) -> Int32) -> Int32 {
        let handle = CallHandles.shared.open(self)
        completion.withLock { $0.handle = handle }
        let raw = body(handle)
        if raw != Outcome.pending.rawValue || completion.withLock({ $0.early != nil }) { closeHandle() }
        return raw
    }

    // MARK: Asynchronous completion

    private let completion = Locked(Completion())

    private struct Completion {
        var phase = Phase.running
        /// A `finish` that came before `process` returned.
        var early: Outcome? = nil
        var onFinish: (@Sendable (Outcome) -> Void)? = nil
        var handle: OpaquePointer? = nil
    }

    private enum Phase { case running, pending, ended }

    /// What became of a call that returned `.pending`.
    enum Awaiting {
        /// It goes on; `onFinish` will run.
        case pending
        /// `finish` came before `process` returned: the call is over.
        case finishedEarly(Outcome)
        /// Its deadline passed first (`expire`).
        case expired
    }

    /// `process` returned `.pending`: `onFinish` runs (on the finishing
    /// thread) when the call finishes.
    func awaitFinish(_ onFinish: @escaping @Sendable (Outcome) -> Void) -> Awaiting {
        completion.withLock { c in
            if c.phase == .ended { return .expired }
            if let early = c.early {
                c.phase = .ended
                return .finishedEarly(early)
            }
            c.phase = .pending
            c.onFinish = onFinish
            return .pending
        }
    }

    /// Finishes a call that returned (or is about to return) `.pending`, as
    /// if `process` had returned `outcome`. False when the call is not
    /// pending: it finished already, timed out, or returned another outcome.
    @discardableResult
    public func finish(_ outcome: Outcome) -> Bool {
        guard outcome != .pending else { return false }
        let (accepted, onFinish): (Bool, (@Sendable (Outcome) -> Void)?) = completion.withLock { c in
            switch c.phase {
            case .running where c.early == nil:
                c.early = outcome
                return (true, nil)
            case .pending where claim(.returned):
                c.phase = .ended
                defer { c.onFinish = nil }
                return (true, c.onFinish)
            default:
                return (false, nil)
            }
        }
        guard accepted else { return false }
        closeHandle()
        onFinish?(outcome)
        return true
    }

    /// Waits on this thread until a call that returned `.pending` finishes,
    /// and returns how it finished (any other outcome at once). For a worker
    /// process, which answers its host only when the call is over.
    public func waitForFinish(_ outcome: Outcome) -> Outcome {
        guard outcome == .pending else { return outcome }
        let finished = Monitor()
        let result = Locked<Outcome?>(nil)
        switch awaitFinish({ outcome in
            result.withLock { $0 = outcome }
            finished.withLock { finished.broadcast() }
        }) {
        case .finishedEarly(let early): return early
        case .expired: return .retry
        case .pending: break
        }
        return finished.withLock {
            while true {
                if let outcome = result.withLock({ $0 }) { return outcome }
                finished.wait()
            }
        }
    }

    /// The deadline won over the call: nothing finishes it any more.
    /// Returns true when it was pending (no worker is inside it).
    @discardableResult
    func expire() -> Bool {
        let wasPending: Bool = completion.withLock { c in
            defer {
                c.phase = .ended
                c.onFinish = nil
            }
            return c.phase == .pending
        }
        if wasPending { closeHandle() }
        return wasPending
    }

    private func closeHandle() {
        let handle: OpaquePointer? = completion.withLock { c in
            defer { c.handle = nil }
            return c.handle
        }
        if let handle { CallHandles.shared.close(handle) }
    }
}

/// Set once to ask in-flight calls to stop.
public final class CancelFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    public init() {}
    public var isSet: Bool { flag.load(ordering: .relaxed) }
    public func set() { flag.store(true, ordering: .relaxed) }
}
