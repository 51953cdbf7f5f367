/// How a run's jobs go: claimed from the work queue, through the stages
/// (each call by its `StageRunner`, each retry decided by the
/// `RetryPolicy`), to a result that fans out to the sinks.
extension BatchRun {
    func runNext() -> WorkStep {
        switch claimNext() {
        case .ran(let claimed): return .ran(execute(claimed))
        case .wait(let until): return .wait(until: until)
        case .drained: return .drained
        }
    }

    private enum Next {
        case ran(ClaimedJob)
        case wait(UInt64)
        case drained
    }

    /// The next job to run; what the queue hands back on the way (refused
    /// duplicates, documents an earlier run finished, the end of the input)
    /// is dealt with here.
    private func claimNext() -> Next {
        while true {
            // Jobs claimed ahead are run first (only a queue that claims several has any).
            let ahead = queue.claimSize > 1 ? claimed.withLock { $0.popLast() } : nil
            let claim = ahead.map { Claim.jobs([$0]) } ?? queue.claim(upTo: queue.claimSize, now: monotonicNanos())
            switch claim {
            case .jobs(var jobs):
                guard !jobs.isEmpty else { continue }
                let first = jobs.removeFirst()
                if !jobs.isEmpty { claimed.withLock { $0.append(contentsOf: jobs.reversed()) } }
                if first.isNew && alreadyFinished(first) { continue }
                return .ran(first)
            case .rejected(let document, let reason):
                rejectDuplicate(document, reason: reason)
            case .inputEnded:
                stats.update { c in
                    c.stats.totalKnown = true
                    c.knownTotal = c.discovered
                }
            case .inputFailed(let error):
                log(.error, "input: \(error.message)", nil)
                stop(because: error)
            case .wait(let until):
                return .wait(until)
            case .drained:
                return .drained
            }
        }
    }

    /// Counts a new document; true when an earlier run finished it (resuming).
    private func alreadyFinished(_ claimed: ClaimedJob) -> Bool {
        stats.update { $0.discovered += 1 }
        guard let store, let status = store.status(of: claimed.job.document.id) else { return false }
        stats.update { $0.restore(status) }
        reportChangedSource(claimed.job.document, store: store)
        queue.acknowledge(claimed)
        return true
    }

    /// A stream repeated an id: that document fails, reported and counted,
    /// but stays out of the outputs and the store, which hold the result of
    /// the first document with the id.
    private func rejectDuplicate(_ document: Document, reason: String) {
        stats.update { $0.discovered += 1 }
        record(DocumentResult(
            document: document, status: .failed, output: nil, outputIsJSON: false,
            error: reason, attempts: 0, failedStage: nil,
            failedStageLabel: nil, durationMs: 0, inputTokens: 0, outputTokens: 0), persisted: false)
    }

    private func execute(_ claimed: ClaimedJob) -> JobOutcome {
        var claimed = claimed
        let waited = claimed.job.waitingFor
        claimed.job.waitingFor = nil
        stats.update { c in
            c.stats.inFlight += 1
            switch waited {
            case .retry: c.stats.retryWaiting -= 1
            case .rateLimit: c.stats.rateLimitWaiting -= 1
            case nil: break
            }
        }
        let outcome = WorkingThread.working(for: self) { runStages(claimed) }
        switch outcome {
        case .detached, .pending: break  // counted out when the call ends
        default: stats.update { $0.stats.inFlight -= 1 }
        }
        return outcome
    }

    /// Runs the job's stages from where it is, on this worker, until it
    /// finishes, goes back to the queue, or its call goes on elsewhere.
    private func runStages(_ claimed: ClaimedJob) -> JobOutcome {
        var claimed = claimed
        // First call of the document (or of its retry by an operator, whose attempts go on).
        if claimed.job.stage == 0 && claimed.job.stageAttempts == 0 && claimed.job.reservation == nil {
            if claimed.job.contentHash == nil && reuseIdenticalContent(&claimed) { return .finished }
            if let budget {
                guard let reservation = budget.reserve(estimate: { costGuess(claimed.job) }) else {
                    stopForBudget(budget)
                    return giveBackUnfinished(claimed)
                }
                claimed.job.reservation = reservation
            }
        }
        if let outcome = fetchIfRemote(&claimed) { return outcome }
        let runners = stageRunners
        while claimed.job.stage < runners.count {
            if cancelFlag.isSet { return giveBackUnfinished(claimed) }
            switch runners[claimed.job.stage].start(claimed, cancelFlag: cancelFlag, owner: self) {
            case .rateLimited(let until):
                return waitForRateLimit(claimed, until: until)
            case .pending:
                return .pending
            case .detached:
                stuckCalls.withLock { $0[claimed.job.stage] -= 1 }
                return .detached
            case .returned(let call, let outcome):
                let (job, next) = settle(call, outcome, with: claimed, runner: runners[claimed.job.stage])
                claimed.job = job
                if let next { return next }
            }
        }
        return .finished
    }

    /// The batch stopped before the job finished: it stays unfinished.
    private func giveBackUnfinished(_ claimed: ClaimedJob) -> JobOutcome {
        if let reservation = claimed.job.reservation { budget?.release(reservation) }
        queue.giveBack(claimed, notBefore: monotonicNanos())
        return .abandoned
    }

    func waitForRateLimit(_ claimed: ClaimedJob, until: UInt64) -> JobOutcome {
        var claimed = claimed
        claimed.job.waitingFor = .rateLimit
        let wait = Double(until &- min(until, monotonicNanos())) / 1e9
        stats.update { c in
            c.stats.rateLimitWaiting += 1
            c.stats.rateLimitWaitSeconds += wait
        }
        queue.giveBack(claimed, notBefore: until)
        return .gaveBack
    }

    /// What a returned call leads to: the job as it now is, and the job's
    /// outcome, or nil to go on to its next stage on this worker.
    func settle(_ call: StageCall, _ outcome: Outcome, with claimed: ClaimedJob,
                        runner: StageRunner) -> (Job, JobOutcome?) {
        var (job, paused) = runner.account(call, outcome)
        if paused, let ms = call.context.retryAfterMs {
            notify(.rateLimitPause(document: job.document, stage: runner.stage.label, seconds: Double(ms) / 1000))
        }
        stats.update { c in
            if paused { c.stats.rateLimitPauses += 1 }
            c.stats.stageDurations[job.stage].observe(seconds: Double(monotonicNanos() - call.began) / 1e9)
            c.stats.attempts += 1
            if job.stageAttempts > 1 { c.stats.retries += 1 }
        }
        var next = claimed
        let verdict = retry.verdict(outcome, call.context, processor: runner.stage.name)
        if recordsCall(job, verdict) {
            job.history.append(call.record(job, stage: runner.stage.label, outcome: verdict.outcomeName(outcome),
                                           durationNanos: monotonicNanos() - call.began))
        }
        switch verdict {
        case .advance:
            if outcome == .partial {
                job.partial = true
                if let error = call.context.error { job.partialError = error }
            }
            // A stage that succeeded after retries leaves no retry message behind.
            job.lastError = job.partialError
            job.input = call.context.output ?? []
            job.stage += 1
            job.stageAttempts = 0
            guard job.stage == stageLabels.count else { return (job, nil) }
            next.job = job
            finish(next, status: job.partial ? .partial : .ok, output: call.context.output, json: call.context.outputIsJSON)
            return (job, .finished)
        case .retry(let reason, let retryAfterMs, let timedOut):
            if timedOut { stats.update { $0.stats.timeouts += 1 } }
            next.job = job
            return (job, retryOrGiveUp(next, reason: reason, retryAfterMs: retryAfterMs))
        case .fail(let reason):
            job.lastError = reason
            next.job = job
            finish(next, status: .failed, output: nil, json: false, failedStage: job.stage)
            return (job, .finished)
        }
    }

    /// Whether the call goes into the job's history: not when it finishes
    /// the document as its one and only call, a history that is not kept.
    private func recordsCall(_ job: Job, _ verdict: RetryPolicy.Verdict) -> Bool {
        guard verdict == .advance, job.stage + 1 == stageLabels.count else { return true }
        return AttemptRecord.isKept(failed: false, attempts: job.attempts, calls: job.history.count + 1)
    }

    /// A retryable failure: the job goes back to the queue for its next
    /// attempt, or fails when it has used them all.
    func retryOrGiveUp(_ claimed: ClaimedJob, reason: String, retryAfterMs: UInt64?) -> JobOutcome {
        var claimed = claimed
        claimed.job.lastError = reason
        if cancelFlag.isSet { return giveBackUnfinished(claimed) }
        switch retry.decide(stageAttempts: claimed.job.stageAttempts, reason: reason, retryAfterMs: retryAfterMs) {
        case .retry(let delay):
            claimed.job.waitingFor = .retry
            stats.update { $0.stats.retryWaiting += 1 }
            notify(.retry(document: claimed.job.document, stage: stageLabels[claimed.job.stage],
                          attempt: claimed.job.stageAttempts + 1, delaySeconds: Double(delay) / 1e9, reason: reason))
            queue.giveBack(claimed, notBefore: monotonicNanos() &+ delay)
            return .gaveBack
        case .giveUp(let message):
            claimed.job.lastError = message
            finish(claimed, status: .failed, output: nil, json: false)
            return .finished
        }
    }

    func finish(_ claimed: ClaimedJob, status: DocumentStatus, output: [UInt8]?, json: Bool, failedStage: Int? = nil) {
        let job = claimed.job
        if let reservation = job.reservation { budget?.commit(reservation, cost: job.costUSD) }
        var failed = failedStage
        if status == .failed && failed == nil { failed = job.stage }
        record(DocumentResult(
            document: job.document, status: status, output: output, outputIsJSON: json,
            error: job.lastError, attempts: job.attempts, failedStage: failed,
            failedStageLabel: failed.map { stageLabels[$0] },
            durationMs: Double(job.busyNanos) / 1e6,
            inputTokens: job.inputTokens, outputTokens: job.outputTokens,
            units: job.units, costUSD: job.costUSD, contentHash: job.contentHash, history: job.history,
            sourceVersion: job.fetched?.version))
        queue.acknowledge(claimed)
    }
}
