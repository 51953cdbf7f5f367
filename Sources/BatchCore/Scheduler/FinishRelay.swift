/// Runs what follows a pending call's finish — accounting, the journal
/// record, the next stage's queueing, the freed slot — on a thread of the
/// engine, in order. The thread that finished the call (a host's event
/// loop, which finishes hundreds of calls a turn) goes back to its own work
/// at once, and the engine's bookkeeping runs beside it on another core.
/// Its thread starts with the first finish and stops at shutdown, after
/// running what was handed to it. After each batch of what it ran it
/// calls `afterBatch`.
final class FinishRelay: @unchecked Sendable {  // @unchecked: every field guarded by `monitor`
    private let monitor = Monitor()
    private var waiting: [@Sendable () -> Void] = []
    private var thread: JoinableThread?
    private var stopping = false
    private let afterBatch: @Sendable () -> Void

    init(afterBatch: @escaping @Sendable () -> Void) {
        self.afterBatch = afterBatch
    }

    func relay(_ body: @escaping @Sendable () -> Void) {
        let (wake, stopped): (Bool, Bool) = monitor.withLock {
            guard !stopping else { return (false, true) }
            if thread == nil {
                thread = startJoinableThread(name: "bc-finish") { [self] in loop() }
            }
            waiting.append(body)
            return (waiting.count == 1, false)
        }
        if stopped {  // after shutdown: nothing is left to hand it to
            body()
            return afterBatch()
        }
        if wake { monitor.signal() }
    }

    /// Runs what is left, then stops the thread and joins it.
    func shutdown() {
        let ending: JoinableThread? = monitor.withLock {
            stopping = true
            monitor.signal()
            return thread
        }
        ending?.join()
    }

    private func loop() {
        monitor.lock()
        while true {
            if waiting.isEmpty {
                if stopping { break }
                monitor.wait()
                continue
            }
            let batch = waiting
            waiting = []
            monitor.unlock()
            for body in batch { body() }
            afterBatch()
            monitor.lock()
        }
        monitor.unlock()
    }
}
