/// Abandons processor calls that overrun their deadline. One thread per
/// engine, started on first use, asleep until the earliest deadline.
///
/// A call is armed when it starts and disarmed when it returns (a pending
/// call: when it finishes); whichever of the worker (or the finisher) and
/// the watchdog claims the call first (`CallContext.claim`) decides what
/// happens to its document, so a call is never both.
final class Watchdog: @unchecked Sendable {  // @unchecked: every field guarded by `monitor`
    private let monitor = Monitor()
    private var armed: [ObjectIdentifier: Entry] = [:]
    private var wakeAt: UInt64? = nil
    private var thread: JoinableThread? = nil
    private var shuttingDown = false

    private struct Entry {
        let deadline: UInt64
        let overdue: @Sendable () -> Void
    }

    /// Runs `overdue` on the watchdog's thread if `call` is still armed at `deadline`.
    func arm(_ call: CallContext, deadline: UInt64, overdue: @escaping @Sendable () -> Void) {
        let wake: Bool = monitor.withLock {
            armed[ObjectIdentifier(call)] = Entry(deadline: deadline, overdue: overdue)
            if thread == nil && !shuttingDown {
                thread = startJoinableThread(name: "bc-watchdog") { [self] in loop() }
            }
            return wakeAt.map { deadline < $0 } ?? true
        }
        if wake { monitor.signal() }
    }

    func disarm(_ call: CallContext) {
        monitor.withLock { _ = armed.removeValue(forKey: ObjectIdentifier(call)) }
    }

    /// Stops the thread and joins it.
    func shutdown() {
        let thread: JoinableThread? = monitor.withLock {
            shuttingDown = true
            defer { self.thread = nil }
            return self.thread
        }
        monitor.signal()
        thread?.join()
    }

    private func loop() {
        monitor.lock()
        while !shuttingDown {
            let now = monotonicNanos()
            let due = armed.filter { $0.value.deadline <= now }
            if !due.isEmpty {
                due.keys.forEach { armed.removeValue(forKey: $0) }
                monitor.unlock()
                due.values.forEach { $0.overdue() }
                monitor.lock()
                continue
            }
            wakeAt = armed.values.lazy.map(\.deadline).min()
            if let wakeAt { monitor.wait(until: wakeAt) } else { monitor.wait() }
            wakeAt = nil
        }
        monitor.unlock()
    }
}
