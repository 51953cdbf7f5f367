import DequeModule
import Glibc

/// Delivers a batch's events on a thread of its own, in order, one at a
/// time, with no engine lock held — so a handler may call back into the
/// batch (stats, cancel) without deadlock. The queue is bounded: when the
/// handler falls behind, workers wait instead of memory growing.
final class EventPump: @unchecked Sendable {
    typealias Handler = @Sendable (BatchEvent) -> Void

    private let monitor = Monitor()
    private var queue = Deque<BatchEvent>()
    private var closed = false
    private(set) var drained = false
    private let capacity = 4096
    private let handler: Handler
    private let interval: UInt64
    private let snapshot: @Sendable () -> BatchStats
    private var thread: JoinableThread? = nil
    private var joined = false

    init(handler: @escaping Handler, progressInterval: Double, snapshot: @escaping @Sendable () -> BatchStats) {
        self.handler = handler
        self.interval = UInt64(progressInterval * 1e9)
        self.snapshot = snapshot
    }

    func start() {
        monitor.withLock { thread = startJoinableThread(name: "bc-events") { [self] in run() } }
    }

    deinit {
        if !joined { thread?.join() }
    }

    /// True on the pump's own thread (where waiting for the batch would deadlock).
    var isCurrentThread: Bool {
        monitor.withLock { thread?.isCurrent ?? false }
    }

    func post(_ event: BatchEvent) {
        monitor.withLock {
            while queue.count >= capacity && !closed { monitor.wait() }
            queue.append(event)
        }
        monitor.broadcast()
    }

    /// Posts the last event; the pump stops after delivering it.
    func close(with event: BatchEvent) {
        monitor.withLock {
            queue.append(event)
            closed = true
        }
        monitor.broadcast()
    }

    /// Blocks until every event was delivered and the thread has ended, or
    /// until `deadline` (monotonic ns).
    func waitDrained(until deadline: UInt64?) -> Bool {
        let done: Bool = monitor.withLock {
            while !drained {
                if let deadline {
                    if monotonicNanos() >= deadline { return false }
                    monitor.wait(until: deadline)
                } else {
                    monitor.wait()
                }
            }
            return true
        }
        if done { joinThread() }
        return done
    }

    private func joinThread() {
        let thread: JoinableThread? = monitor.withLock {
            defer { joined = true }
            return joined ? nil : self.thread
        }
        thread?.join()
    }

    private func run() {
        var nextTick = monotonicNanos() + interval
        while true {
            let event: BatchEvent? = monitor.withLock {
                while queue.isEmpty && !closed && monotonicNanos() < nextTick {
                    monitor.wait(until: nextTick)
                }
                return queue.popFirst()
            }
            if let event {
                monitor.broadcast()  // room for a waiting producer
                handler(event)
                continue
            }
            if monitor.withLock({ closed }) { break }
            nextTick = monotonicNanos() + interval
            handler(.progress(snapshot()))
        }
        monitor.withLock { drained = true }
        monitor.broadcast()
    }
}
