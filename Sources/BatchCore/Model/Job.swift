/// One document on its way through the stages. A retry keeps its place:
/// the stage it is at, that stage's input, and what it has used so far.
public struct Job: Sendable {
    public var document: Document
    public var stage = 0
    public var input: [UInt8]? = nil
    /// Attempts at the current stage.
    public var stageAttempts = 0
    /// Attempts of the document: the first and each retry, at any stage.
    public var attempts = 0
    public var partial = false
    /// The message of the last failed attempt, or of a partial stage.
    public var lastError: String? = nil
    /// The message of the last partial stage: what a finished document keeps.
    public var partialError: String? = nil
    public var inputTokens: UInt64 = 0
    public var outputTokens: UInt64 = 0
    public var units: UInt64 = 0
    public var costUSD: Double = 0
    /// Time spent in processor calls, nanoseconds.
    public var busyNanos: UInt64 = 0
    /// SHA-256 of the content, when dedupe computed it.
    public var contentHash: String? = nil
    /// Why the job sits in the delay heap, if it does.
    public var waitingFor: Wait? = nil

    public enum Wait: Sendable { case retry, rateLimit }

    public init(document: Document) { self.document = document }
}

/// What executing a job leads to.
public enum JobOutcome: Sendable {
    /// The document reached its final status.
    case finished
    /// Run the job again no sooner than `afterNanos` from now.
    case retry(Job, afterNanos: UInt64)
    /// The rate limit said wait: run it at `until` (monotonic ns), and start
    /// nothing else of this batch before then.
    case rateLimited(Job, until: UInt64)
    /// The job was not run to the end because the batch stopped; it stays pending.
    case abandoned
    /// The call overran its deadline and the watchdog moved the document on
    /// without this worker, which must now leave.
    case detached
}

/// What the scheduler needs from a running batch. Called without any
/// scheduler lock held.
protocol Workload: AnyObject, Sendable {
    /// The next new document, or nil when the sources are exhausted.
    func nextJob() -> Job?
    /// Runs a job through its stages.
    func execute(_ job: Job) -> JobOutcome
    /// Called once, when nothing is in flight and nothing more will run.
    func finished(cancelled: Bool)
}
