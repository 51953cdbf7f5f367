/// The ways a job's path leaves its worker or never starts: a pending call
/// finished from another thread, a call the watchdog gave up on, dedupe,
/// and the budget.
extension BatchRun {
    /// A pending call finished, on whichever thread finished it: the rest
    /// runs on the engine's finish relay, so that thread returns at once.
    func callFinished(_ call: StageCall, _ outcome: Outcome) {
        scheduler.finishRelay.relay { [self] in goOn(after: call, outcome) }
    }

    /// The job goes on as if `process` had returned `outcome`; its next
    /// stage runs when a worker claims it again.
    private func goOn(after call: StageCall, _ outcome: Outcome) {
        let runners = stageRunners
        let stage = call.claimed.job.stage
        guard stage < runners.count else { return }
        var claimed = call.claimed
        let (job, next) = settle(call, outcome, with: claimed, runner: runners[stage])
        claimed.job = job
        let result = next ?? continueLater(claimed)
        stats.update { $0.stats.inFlight -= 1 }
        scheduler.complete(self, result, waking: false)  // run by the relay, which wakes the workers after its batch
    }

    private func continueLater(_ claimed: ClaimedJob) -> JobOutcome {
        queue.giveBack(claimed, notBefore: monotonicNanos())
        return .gaveBack
    }

    /// The watchdog gave up on a call: the document is retried (or fails).
    /// A worker stuck inside the processor is replaced by a new one; a
    /// pending call only frees its slot.
    func callOverdue(_ call: StageCall, wasPending: Bool) {
        var claimed = call.claimed
        let stage = claimed.job.stage
        let timeout = options.timeout ?? 0
        if !wasPending { stuckCalls.withLock { $0[stage] += 1 } }
        claimed.job.busyNanos &+= UInt64(timeout * 1e9)
        stats.update { c in
            c.stats.stageDurations[stage].observe(seconds: timeout)
            c.stats.attempts += 1
            c.stats.timeouts += 1
            if claimed.job.stageAttempts > 1 { c.stats.retries += 1 }
            c.stats.inFlight -= 1
        }
        let message = CallContext.timeoutMessage(timeout)
        claimed.job.history.append(call.record(claimed.job, stage: stageLabels[stage], outcome: "timeout",
                                               durationNanos: UInt64(timeout * 1e9)))
        let abandoned = wasPending ? "the pending call is abandoned" : "the call is abandoned and its thread replaced"
        log(.warning, "\(stageLabels[stage]): \(message); \(abandoned)", claimed.job.document)
        let outcome = retryOrGiveUp(claimed, reason: message, retryAfterMs: nil)
        if wasPending {
            scheduler.complete(self, outcome)
        } else {
            scheduler.replaceStuckWorker(self, outcome)
        }
    }

    /// Dedupe: a finished document with the same content lends its result.
    func reuseIdenticalContent(_ claimed: inout ClaimedJob) -> Bool {
        guard let dedupe, let hash = DedupeIndex.contentHash(of: claimed.job.presented) else {
            return false  // unreadable: the processor reports it
        }
        claimed.job.contentHash = hash
        guard let original = dedupe.firstResult(withHash: hash) else { return false }
        stats.update { $0.stats.deduplicated += 1 }
        record(DocumentResult(
            document: claimed.job.document, status: original.status, output: original.output,
            outputIsJSON: original.outputIsJSON, error: nil, attempts: 0, failedStage: nil,
            failedStageLabel: nil, durationMs: 0, inputTokens: 0, outputTokens: 0,
            contentHash: hash, duplicateOf: original.id))
        queue.acknowledge(claimed)
        return true
    }

    /// What a new document will likely cost, before any has finished: its
    /// first stage's estimate at each priced stage's prices.
    func costGuess(_ job: Job) -> Double {
        stageRunners.reduce(0.0) { sum, runner in
            guard let prices = runner.stage.prices else { return sum }
            let estimate = runner.tokenEstimate(job)
            return sum + prices.cost(input: estimate.input, output: estimate.output)
        }
    }

    /// The budget would likely be crossed: start nothing more.
    func stopForBudget(_ budget: any BudgetLedger) {
        let first = stats.update { c in
            defer { c.stats.budgetReached = true }
            return !c.stats.budgetReached
        }
        guard first else { return }
        log(.warning, "budget reached: \(dollars(budget.spent)) spent of \(dollars(budget.limit)); no new document starts, those in flight finish", nil)
        cancel(hard: false)
    }
}
