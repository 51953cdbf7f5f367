/// Every decision about attempts: how they are counted, which outcomes are
/// retried, how long a retry waits (a Retry-After, else backoff), when a
/// timed-out call counts as a retry, and when the document gives up.
struct RetryPolicy: Sendable {
    /// Attempts a stage gets in all (the first call and its retries).
    let attempts: Int
    let backoff: Backoff

    init(options: BatchOptions) {
        attempts = options.retryAttempts
        backoff = Backoff(base: options.retryBase, max: options.retryMax, jitter: options.retryJitter)
    }

    /// What the stage's call leads to.
    enum Verdict: Equatable {
        /// The stage is done (partial or not): the next stage, or the end.
        case advance
        /// A retryable failure; `timedOut`: the call overran its deadline.
        case retry(reason: String, retryAfterMs: UInt64?, timedOut: Bool)
        /// A permanent failure.
        case fail(reason: String)

        /// How the attempt ended, as its history tells: ok, partial, retry, timeout or failed.
        func outcomeName(_ outcome: Outcome) -> String {
            switch self {
            case .advance: outcome == .partial ? "partial" : "ok"
            case .retry(_, _, let timedOut): timedOut ? "timeout" : "retry"
            case .fail: "failed"
            }
        }
    }

    /// What the next try of a retryable failure does.
    enum Decision: Equatable {
        case retry(afterNanos: UInt64)
        case giveUp(message: String)
    }

    /// A call starts: it counts as an attempt of the stage, and of the
    /// document when it is its first call or a retry (the first call of a
    /// later stage is the same attempt going on).
    func beginAttempt(_ job: inout Job) {
        job.stageAttempts += 1
        if job.stage == 0 || job.stageAttempts > 1 { job.attempts += 1 }
    }

    func verdict(_ outcome: Outcome, _ call: CallContext, processor: String) -> Verdict {
        switch outcome {
        case .done, .partial:
            return .advance
        case .retry where call.overranDeadline:
            // Stopped when the deadline asked it to (a result that came
            // late but complete is kept above).
            return .retry(reason: CallContext.timeoutMessage(call.timeout ?? 0), retryAfterMs: nil, timedOut: true)
        case .retry:
            return .retry(reason: call.error ?? "asked for a retry", retryAfterMs: call.retryAfterMs, timedOut: false)
        case .fail, .pending:
            return .fail(reason: call.error ?? "processor '\(processor)' failed without a message")
        }
    }

    /// The verdict of a call the watchdog gave up on.
    func timedOut(after seconds: Double) -> Verdict {
        .retry(reason: CallContext.timeoutMessage(seconds), retryAfterMs: nil, timedOut: true)
    }

    /// Retry after a Retry-After or a backoff, or give up after the last attempt.
    func decide(stageAttempts: Int, reason: String, retryAfterMs: UInt64?) -> Decision {
        guard stageAttempts >= attempts else {
            return .retry(afterNanos: retryAfterMs.map(Self.nanos) ?? backoff.delayNanos(afterAttempt: stageAttempts))
        }
        let tries = stageAttempts == 1 ? "1 attempt" : "\(stageAttempts) attempts"
        return .giveUp(message: "gave up after \(tries): \(reason)")
    }

    /// A Retry-After in nanoseconds; an absurd one means "not for centuries",
    /// never a clock that wraps round to "now".
    static func nanos(milliseconds ms: UInt64) -> UInt64 {
        let (nanos, overflow) = ms.multipliedReportingOverflow(by: 1_000_000)
        return overflow ? UInt64(Int64.max) : min(nanos, UInt64(Int64.max))
    }
}
