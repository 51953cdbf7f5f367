import HeapModule

/// A batch as the scheduler sees it. Every field is guarded by the
/// scheduler's monitor.
final class Tenant: @unchecked Sendable {
    let workload: Workload
    let cap: Int
    /// Sequential: a document waiting for its retry holds back the next one,
    /// so documents run one at a time in input order.
    let inOrder: Bool
    var running = 0
    var exhausted = false
    var cancelled = false
    var done = false
    /// Nothing of this batch starts before this time (its rate limit).
    var notBefore: UInt64 = 0
    var retries = Heap<DelayedJob>()
    private var sequence: UInt64 = 0

    init(workload: Workload, cap: Int, inOrder: Bool = false) {
        self.workload = workload
        self.cap = cap
        self.inOrder = inOrder
    }

    func delay(_ job: Job, until due: UInt64) {
        sequence += 1
        retries.insert(DelayedJob(due: due, sequence: sequence, job: job))
    }

    /// May a worker start something here now? (Retry due, or new documents.)
    func canDispatch(now: UInt64) -> Bool {
        guard !cancelled, running < cap, now >= notBefore else { return false }
        if let first = retries.min {
            if first.due <= now { return true }
            if inOrder { return false }
        }
        return !exhausted
    }

    /// When this tenant may next have something to start, if ever.
    func nextStart(now: UInt64) -> UInt64? {
        guard !cancelled else { return nil }
        let work = exhausted || (inOrder && !retries.isEmpty) ? retries.min?.due : now
        return work.map { max($0, notBefore) }
    }

    /// Nothing in flight and nothing left: the batch is over.
    var isComplete: Bool {
        running == 0 && (cancelled || (exhausted && retries.isEmpty))
    }
}

struct DelayedJob: Comparable, @unchecked Sendable {
    let due: UInt64
    let sequence: UInt64
    let job: Job

    static func < (a: DelayedJob, b: DelayedJob) -> Bool {
        (a.due, a.sequence) < (b.due, b.sequence)
    }

    static func == (a: DelayedJob, b: DelayedJob) -> Bool {
        a.due == b.due && a.sequence == b.sequence
    }
}
