/// Where a run's jobs come from and go back to. A job is claimed (leased to
/// this run) until it is acknowledged (finished) or given back (to run
/// again later). The local implementation is `LocalWorkQueue`; a shared one
/// lives on a server, where a lease that is not renewed expires and the job
/// goes to another claimer.
public protocol WorkQueue: AnyObject, Sendable {
    /// How many jobs a claim asks for at once: 1 locally; more where each
    /// claim is a round trip.
    var claimSize: Int { get }
    /// Seconds between renewals of the leases of claimed jobs; nil when
    /// leases do not expire (locally).
    var leaseRenewal: Double? { get }
    /// Claims up to `count` jobs (`now`: monotonic ns).
    func claim(upTo count: Int, now: UInt64) -> Claim
    /// A claimed job reached its final status.
    func acknowledge(_ job: ClaimedJob)
    /// A claimed job runs again, not before `notBefore` (monotonic ns). A
    /// job waiting for its rate limit (`job.waitingFor == .rateLimit`) may
    /// hold back the queue's other jobs until then.
    func giveBack(_ job: ClaimedJob, notBefore: UInt64)
    /// Keeps the leases of jobs still running; returns those still held.
    func renew(_ jobs: [ClaimedJob]) -> [ClaimedJob]
    /// Adds a job whose document finished before, to run it again at once
    /// (an operator's retry); false when this queue takes no such job.
    func requeue(_ job: Job) -> Bool
}

extension WorkQueue {
    public func requeue(_ job: Job) -> Bool { false }
}

/// What a claim found.
public enum Claim: Sendable {
    /// Leased jobs: each is acknowledged or given back.
    case jobs([ClaimedJob])
    /// A document refused without running (a stream repeated its id): it
    /// fails with `reason` and stays out of the results, which hold the
    /// first document with that id.
    case rejected(Document, reason: String)
    /// No new document will come; claim again for jobs given back.
    case inputEnded
    /// The input could not be read to the end; claim again for jobs given back.
    case inputFailed(BatchCoreError)
    /// Nothing now: ask again at `until` (monotonic ns), or sooner once a job is given back.
    case wait(until: UInt64)
    /// Nothing now, and nothing ever unless a job is given back.
    case drained
}

/// A job and its lease.
public struct ClaimedJob: Sendable {
    public var job: Job
    /// The queue's name for the lease (a stream entry, say); 0 locally.
    public let lease: UInt64
    /// First claim of this document (not a job given back).
    public let isNew: Bool

    public init(job: Job, lease: UInt64 = 0, isNew: Bool) {
        self.job = job
        self.lease = lease
        self.isNew = isNew
    }
}
