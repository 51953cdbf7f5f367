import Glibc

/// One stage of a run and what each of its calls goes through: the rate
/// limit, the deadline (and the watchdog that enforces it), the call itself,
/// and then its accounting — tokens, units, cost, the limiter's correction,
/// a Retry-After that pauses everyone on the limiter.
final class StageRunner: Sendable {  // a class: one per stage, shared by every call, never copied
    let stage: RunningStage
    let index: Int
    /// The limiter this stage draws from, if it is the limited one.
    let limiter: (any Limiter)?
    let timeout: Double?
    let graceNanos: UInt64
    let watchdog: Watchdog
    let retry: RetryPolicy

    init(stage: RunningStage, index: Int, limiter: (any Limiter)?, timeout: Double?, graceNanos: UInt64,
         watchdog: Watchdog, retry: RetryPolicy) {
        self.stage = stage
        self.index = index
        self.limiter = limiter
        self.timeout = timeout
        self.graceNanos = graceNanos
        self.watchdog = watchdog
        self.retry = retry
    }

    /// How a call began.
    enum Start {
        /// The limiter said wait until then; nothing was called.
        case rateLimited(until: UInt64)
        /// The call returned (or finished before `process` returned).
        case returned(StageCall, Outcome)
        /// The call goes on; `StageCallOwner.callFinished` says when it ends.
        case pending
        /// The watchdog gave up on it (`StageCallOwner.callOverdue`).
        case detached
    }

    func start(_ claimed: ClaimedJob, cancelFlag: CancelFlag, owner: StageCallOwner) -> Start {
        let estimate = limiter == nil ? 0 : Double(tokenEstimate(claimed.job).total)
        if let limiter, let until = limiter.acquire(now: monotonicNanos(), estimate: estimate) {
            return .rateLimited(until: until)
        }
        let document = claimed.job.document
        let label = stage.label
        let context = CallContext(cancelFlag: cancelFlag) { [weak owner] level, message in
            owner?.log(level, "\(label): \(message)", document)
        }
        var claimed = claimed
        retry.beginAttempt(&claimed.job)
        let job = claimed.job
        let call = StageCall(claimed: claimed, context: context, estimate: estimate, began: monotonicNanos())
        let watched = armDeadline(call, owner: owner)
        var outcome = stage.instance.process(context, DocumentInput(
            document: job.presented, stage: job.stage, attempt: job.stageAttempts, input: job.input))
        if outcome == .pending {
            switch context.awaitFinish({ [watchdog] outcome in
                if watched { watchdog.disarm(context) }
                owner.callFinished(call, outcome)
            }) {
            case .pending: return .pending
            case .expired: return .detached
            case .finishedEarly(let early): outcome = early
            }
        }
        if watched {
            guard context.claim(.returned) else { return .detached }
            watchdog.disarm(context)
        }
        return .returned(call, outcome)
    }

    /// Adds what the call used to the job; corrects the limiter; a
    /// Retry-After pauses the limiter for everyone. Returns the job and
    /// whether it paused the limiter.
    func account(_ call: StageCall, _ outcome: Outcome) -> (job: Job, paused: Bool) {
        var job = call.claimed.job
        let context = call.context
        job.busyNanos &+= monotonicNanos() - call.began
        job.inputTokens = Count.sum(job.inputTokens, context.inputTokens)
        job.outputTokens = Count.sum(job.outputTokens, context.outputTokens)
        job.units = Count.sum(job.units, context.units)
        if let prices = stage.prices { job.costUSD += prices.cost(input: context.inputTokens, output: context.outputTokens) }
        limiter?.settle(estimate: call.estimate, actual: Double(context.inputTokens) + Double(context.outputTokens))
        guard outcome == .retry, let limiter, let ms = context.retryAfterMs else { return (job, false) }
        limiter.pause(until: monotonicNanos() &+ RetryPolicy.nanos(milliseconds: ms))
        return (job, true)
    }

    /// Gives the call its deadline; true when the watchdog guards it (the
    /// processor does not stop at the deadline by itself). First the call
    /// is asked to stop; after the grace it is given up on.
    private func armDeadline(_ call: StageCall, owner: StageCallOwner) -> Bool {
        guard let timeout else { return false }
        let context = call.context
        let deadline = call.began &+ UInt64(timeout * 1e9)
        context.timeout = timeout
        context.deadline = deadline
        context.killGraceNanos = graceNanos
        guard !stage.instance.enforcesDeadline else { return false }
        watchdog.arm(context, deadline: deadline) { [watchdog, graceNanos] in
            context.markOverran()
            watchdog.arm(context, deadline: deadline &+ graceNanos) { [weak owner] in
                guard context.claim(.timedOut) else { return }
                owner?.callOverdue(call, wasPending: context.expire())
            }
        }
        return true
    }

    /// Tokens a call is expected to use, before it says: what the processor
    /// estimates, else about four bytes a token of what it reads.
    func tokenEstimate(_ job: Job) -> TokenEstimate {
        let document = job.presented
        let doc = DocumentInput(document: document, stage: job.stage, attempt: job.stageAttempts + 1, input: job.input)
        if let estimate = stage.instance.estimate(doc) { return estimate }
        if let input = job.input { return TokenEstimate(input: UInt64(input.count / 4), output: 0) }
        var info = stat()
        guard let path = document.path, FileNameBytes.withCString(path, { stat($0, &info) }) == 0 else {
            return TokenEstimate(input: 0, output: 0)
        }
        return TokenEstimate(input: UInt64(info.st_size / 4), output: 0)
    }
}

/// One call of a stage: the job as it was when the call began (its attempt
/// counted), and what the processor reports.
final class StageCall: Sendable {
    let claimed: ClaimedJob
    let context: CallContext
    let estimate: Double
    let began: UInt64
    /// When it began (Unix seconds) and on which thread, for the document's history.
    let startedAt = wallClockSeconds()
    let place = AttemptRecord.Place.current

    init(claimed: ClaimedJob, context: CallContext, estimate: Double, began: UInt64) {
        self.claimed = claimed
        self.context = context
        self.estimate = estimate
        self.began = began
    }

    /// The call as an entry of its document's attempt history.
    func record(_ job: Job, stage: String, outcome: String, durationNanos: UInt64) -> AttemptRecord {
        AttemptRecord(attempt: job.attempts, stage: stage, startedAt: startedAt, place: place,
                      durationMs: Double(durationNanos) / 1e6, outcome: outcome,
                      error: outcome == "ok" ? nil : context.error, stderr: context.stderrTail)
    }
}

/// Who hears how a stage's calls end when they end away from their worker.
protocol StageCallOwner: AnyObject, Sendable {
    /// A pending call finished (on the finishing thread, which it should not hold up).
    func callFinished(_ call: StageCall, _ outcome: Outcome)
    /// The watchdog gave up on the call (on the watchdog's thread); a worker
    /// is stuck inside it unless it was pending.
    func callOverdue(_ call: StageCall, wasPending: Bool)
    func log(_ level: LogLevel, _ message: String, _ document: Document?)
}
