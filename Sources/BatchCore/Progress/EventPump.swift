import DequeModule
import Glibc

/// Delivers a batch's events on a thread of its own, in order, one at a
/// time, with no engine lock held — so a handler may call back into the
/// batch (stats, cancel) without deadlock. The queue is bounded: when the
/// handler falls behind, workers wait instead of memory growing.
///
/// After a hard cancel a slow handler must not hold the end of the batch
/// for the whole backlog: events about single documents still queued, or
/// posted later, are counted instead of delivered (one log event says how
/// many), progress ticks stop, and only batch-wide events and the last one
/// remain.
final class EventPump: @unchecked Sendable {  // unchecked: the queue, the flags and the thread are only reached under monitor
    typealias Handler = @Sendable (BatchEvent) -> Void

    private let monitor = Monitor()
    private var queue = Deque<BatchEvent>()
    private var closed = false
    private(set) var drained = false
    /// Set by a hard cancel: document events are counted in `dropped`.
    private var droppingDocumentEvents = false
    private var dropped = 0
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
            while queue.count >= capacity && !closed && !droppingDocumentEvents { monitor.wait() }
            if droppingDocumentEvents && Self.isAboutOneDocument(event) {
                dropped += 1
            } else {
                queue.append(event)
            }
        }
        monitor.broadcast()
    }

    /// The batch was cancelled hard: from now on, events about single
    /// documents are counted, not delivered.
    func dropDocumentEvents() {
        monitor.withLock {
            guard !droppingDocumentEvents else { return }
            droppingDocumentEvents = true
            let before = queue.count
            queue.removeAll(where: Self.isAboutOneDocument)
            dropped += before - queue.count
        }
        monitor.broadcast()
    }

    /// Posts the last event; the pump stops after delivering it (after one
    /// event telling how many document events a hard cancel dropped).
    func close(with event: BatchEvent) {
        monitor.withLock {
            if dropped > 0, case .finished(let stats) = event {
                queue.append(.log(level: .info, message: "cancelled: \(dropped) document event(s) were not delivered; every finished document is still in the output and the results", document: nil, stats))
            }
            queue.append(event)
            closed = true
        }
        monitor.broadcast()
    }

    private static func isAboutOneDocument(_ event: BatchEvent) -> Bool {
        switch event {
        case .documentFinished, .notice: return true
        case .log(_, _, let document, _): return document != nil
        case .progress, .finished: return false
        }
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
            let (over, quiet): (Bool, Bool) = monitor.withLock { (self.closed, self.droppingDocumentEvents) }
            if over { break }
            nextTick = monotonicNanos() + interval
            if !quiet { handler(.progress(snapshot())) }
        }
        monitor.withLock { drained = true }
        monitor.broadcast()
    }
}
