/// Keeps the leases of a run's claimed jobs alive, for a queue whose leases
/// expire: it stands in for the queue, notes each job from its claim until
/// it is acknowledged or given back, and renews them all every
/// `leaseRenewal` seconds on a thread of its own.
final class LeaseKeeper: WorkQueue, @unchecked Sendable {  // @unchecked: `stopping`, `thread` and `lost` under `monitor`; `held` is Locked
    private let queue: any WorkQueue
    private let interval: UInt64
    private let held = Locked([UInt64: ClaimedJob]())
    /// Told of jobs whose lease another claimer took over.
    private var lost: (@Sendable ([ClaimedJob]) -> Void)? = nil
    private let monitor = Monitor()
    private var stopping = false
    private var thread: JoinableThread? = nil

    init(_ queue: any WorkQueue, every seconds: Double) {
        self.queue = queue
        self.interval = UInt64(max(0.001, seconds) * 1e9)
    }

    var claimSize: Int { queue.claimSize }
    var leaseRenewal: Double? { queue.leaseRenewal }

    func claim(upTo count: Int, now: UInt64) -> Claim {
        let claim = queue.claim(upTo: count, now: now)
        if case .jobs(let jobs) = claim {
            held.withLock { held in for job in jobs { held[job.lease] = job } }
        }
        return claim
    }

    func acknowledge(_ job: ClaimedJob) {
        held.withLock { _ = $0.removeValue(forKey: job.lease) }
        queue.acknowledge(job)
    }

    func giveBack(_ job: ClaimedJob, notBefore: UInt64) {
        held.withLock { _ = $0.removeValue(forKey: job.lease) }
        queue.giveBack(job, notBefore: notBefore)
    }

    func renew(_ jobs: [ClaimedJob]) -> [ClaimedJob] { queue.renew(jobs) }

    func requeue(_ job: Job) -> Bool { queue.requeue(job) }

    /// Starts renewing; `lost` hears of jobs whose lease another claimer took over.
    func start(lost: @escaping @Sendable ([ClaimedJob]) -> Void) {
        monitor.withLock {
            self.lost = lost
            thread = startJoinableThread(name: "bc-leases") { [self] in loop() }
        }
    }

    func stop() {
        let thread: JoinableThread? = monitor.withLock {
            stopping = true
            monitor.broadcast()
            defer { self.thread = nil }
            return self.thread
        }
        thread?.join()
    }

    private func loop() {
        monitor.lock()
        while !stopping {
            monitor.wait(until: monotonicNanos() &+ interval)
            guard !stopping else { break }
            monitor.unlock()
            renewHeld()
            monitor.lock()
        }
        monitor.unlock()
    }

    private func renewHeld() {
        let jobs = held.withLock { Array($0.values) }
        guard !jobs.isEmpty else { return }
        let kept = Set(queue.renew(jobs).map(\.lease))
        let gone = jobs.filter { !kept.contains($0.lease) }
        if !gone.isEmpty, let lost = monitor.withLock({ lost }) { lost(gone) }
    }
}
