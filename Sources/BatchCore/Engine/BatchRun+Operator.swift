/// What an operator may do to a running batch besides cancelling it: run
/// failed documents again, and pause or resume dispatching.
extension BatchRun {
    /// Puts the documents of `ids` that failed in this run back in the
    /// queue, to run again at once with fresh retries; their attempts go on
    /// counting. Returns the ids put back: not those that did not fail in
    /// this run, are already back, or when the run has ended.
    func runAgain(ids: [String]) -> [String] {
        guard let store else { return [] }
        let requeued = scheduler.reopen(self) {
            ids.compactMap { id -> String? in
                guard let candidate = store.takeFailedForRetry(id) else { return nil }
                var job = Job(document: candidate.document)
                job.attempts = candidate.attempts
                job.waitingFor = .retry
                guard queue.requeue(job) else { return nil }
                stats.update { c in
                    c.stats.failed -= 1
                    c.stats.retryWaiting += 1
                }
                return id
            }
        }
        return requeued ?? []
    }

    /// Stops or restarts dispatching (calls in flight go on); false when the run has ended.
    func setPaused(_ paused: Bool) -> Bool {
        guard scheduler.setPaused(self, paused) else { return false }
        self.paused.withLock { $0 = paused }
        return true
    }

    var isPaused: Bool { paused.withLock { $0 } }
}
