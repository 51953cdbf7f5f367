import HeapModule

/// The jobs of one run in this process: new documents read lazily from the
/// sources (only the sampled ones in sample mode), and jobs given back held
/// in a heap by the time they are due.
///
/// In order (sequential): a job waiting for its retry holds back the next
/// one, so documents run one at a time in input order.
final class LocalWorkQueue: WorkQueue {
    let claimSize = 1
    let leaseRenewal: Double? = nil
    private let inOrder: Bool
    private let sample: SampleSelection?
    private let state: Locked<State>

    private struct State {
        var reader: SourceReader
        var inputEnded = false
        var delayed = Heap<DelayedJob>()
        var sequence: UInt64 = 0
        /// Nothing starts before this time (the rate limit said wait).
        var notBefore: UInt64 = 0
    }

    /// `reader` has checked the ids it can check before the run.
    init(reader: SourceReader, sample: SampleSelection?, inOrder: Bool) {
        self.inOrder = inOrder
        self.sample = sample
        state = Locked(State(reader: reader))
    }

    func claim(upTo count: Int, now: UInt64) -> Claim {
        state.withLock { s in
            if now < s.notBefore { return .wait(until: s.notBefore) }
            if let first = s.delayed.min {
                if first.due <= now { return .jobs([ClaimedJob(job: s.delayed.removeMin().job, isNew: false)]) }
                if inOrder || s.inputEnded { return .wait(until: first.due) }
            }
            if s.inputEnded { return .drained }
            return readNew(&s)
        }
    }

    /// The next new document of the sources, skipping those the sample leaves out.
    private func readNew(_ s: inout State) -> Claim {
        while true {
            let next = s.reader.next()
            switch next {
            case .document(let document):
                // The index is taken with the document, under the same lock,
                // so concurrent claims agree on input order.
                if let sample, !sample.selects(s.reader.count - 1) { continue }
                return .jobs([ClaimedJob(job: Job(document: document), isNew: true)])
            case .duplicate(let document, let first):
                return .rejected(document, reason: "duplicate id (first at \(first))")
            case .sourceError(let error):
                s.inputEnded = true
                return .inputFailed(error)
            case .end:
                s.inputEnded = true
                return .inputEnded
            }
        }
    }

    func acknowledge(_ job: ClaimedJob) {}

    func giveBack(_ job: ClaimedJob, notBefore: UInt64) {
        state.withLock { s in
            s.sequence += 1
            s.delayed.insert(DelayedJob(due: notBefore, sequence: s.sequence, job: job.job))
            if job.job.waitingFor == .rateLimit { s.notBefore = max(s.notBefore, notBefore) }
        }
    }

    func renew(_ jobs: [ClaimedJob]) -> [ClaimedJob] { jobs }

    func requeue(_ job: Job) -> Bool {
        giveBack(ClaimedJob(job: job, isNew: false), notBefore: 0)
        return true
    }
}

/// A job given back, due at `due`; `sequence` keeps equal times in order.
struct DelayedJob: Comparable, Sendable {
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
