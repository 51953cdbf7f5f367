/// What the scheduler needs from a running batch. Called without any
/// scheduler lock held.
protocol Workload: AnyObject, Sendable {
    /// Its share of the worker slots.
    var tenant: Tenant { get }
    /// False when no call of it blocks a thread: the scheduler then starts
    /// no spare thread while a worker is in one of its calls.
    var callsBlockThreads: Bool { get }
    /// Claims one job and runs it, or says why there is none.
    func runNext() -> WorkStep
    /// Called once, when nothing is in flight and nothing more will run.
    func finished(cancelled: Bool)
}

/// What a worker's turn on a run led to.
enum WorkStep: Sendable {
    case ran(JobOutcome)
    /// Nothing to run before this time (monotonic ns).
    case wait(until: UInt64)
    /// Nothing to run unless a job is given back.
    case drained
}

/// What running a job leads to.
enum JobOutcome: Sendable {
    /// The document reached its final status.
    case finished
    /// The job went back to the queue (a retry, a rate-limit wait, the next stage).
    case gaveBack
    /// The job was not run to the end because the batch stopped.
    case abandoned
    /// The call returned `.pending`: the slot stays taken until it finishes
    /// and the run calls `Scheduler.complete`.
    case pending
    /// The call overran its deadline and the watchdog moved the document on
    /// without this worker, which must now leave.
    case detached
}
