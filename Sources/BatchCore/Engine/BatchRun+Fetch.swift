/// Remote documents (http://, https://, s3://): fetched before their first
/// stage, through the engine's `fetch` limiter; a failed fetch is a failed
/// attempt of the first stage (retried with the run's backoff, or failing
/// the document); on resume, a finished one whose source changed is
/// reported (its HEAD request through the same limiter).
extension BatchRun {
    /// Fetches the job's document when it is remote and not fetched yet:
    /// nil to go on with its stages, else what became of the job.
    func fetchIfRemote(_ claimed: inout ClaimedJob) -> JobOutcome? {
        guard claimed.job.fetched == nil, let location = RemoteLocation(claimed.job.document.path) else { return nil }
        if let fetchLimiter, let until = fetchLimiter.acquire(now: monotonicNanos(), estimate: 0) {
            return waitForRateLimit(claimed, until: until)
        }
        let began = monotonicNanos()
        let fetched = Result { () throws(RemoteFetcher.Failure) in try fetcher.fetch(location, cancel: cancelFlag) }
        claimed.job.busyNanos &+= monotonicNanos() - began
        switch fetched {
        case .success(let content): claimed.job.fetched = content
        case .failure(let failure): return fetchFailed(&claimed, failure)
        }
        // Dedupe needed the bytes: a document with the same content lends its result.
        guard claimed.job.contentHash == nil, reuseIdenticalContent(&claimed) else { return nil }
        if let reservation = claimed.job.reservation { budget?.release(reservation) }
        return .finished
    }

    /// A failed fetch is a failed attempt of the first stage.
    private func fetchFailed(_ claimed: inout ClaimedJob, _ error: RemoteFetcher.Failure) -> JobOutcome {
        retry.beginAttempt(&claimed.job)
        stats.update { [stageAttempts = claimed.job.stageAttempts] c in
            c.stats.attempts += 1
            if stageAttempts > 1 { c.stats.retries += 1 }
        }
        switch error {
        case .retry(let reason, let retryAfterMs):
            if let ms = retryAfterMs {
                fetchLimiter?.pause(until: monotonicNanos() &+ RetryPolicy.nanos(milliseconds: ms))
            }
            return retryOrGiveUp(claimed, reason: reason, retryAfterMs: retryAfterMs)
        case .fail(let reason):
            claimed.job.lastError = reason
            finish(claimed, status: .failed, output: nil, json: false)
            return .finished
        }
    }

    /// Waits on this thread for a permit of the `fetch` limiter, which a
    /// resume's HEAD requests draw from like fetches; false when the batch
    /// is cancelled (hard) meanwhile.
    private func awaitFetchPermit() -> Bool {
        guard let fetchLimiter else { return true }
        while let until = fetchLimiter.acquire(now: monotonicNanos(), estimate: 0) {
            if cancelFlag.isSet { return false }
            // In slices, so that a cancel is seen soon.
            sleepSeconds(min(Double(until &- min(until, monotonicNanos())) / 1e9, 0.05))
        }
        return true
    }

    /// Resuming: a finished remote document whose ETag (or Last-Modified)
    /// is no longer the one its result was made from is reported and
    /// counted. Its result stays: what is committed is never run again.
    /// A document gone from its source (a 404 or 403 now) counts as
    /// changed; one that cannot be asked now (a 5xx, no connection) does not,
    /// and its `Retry-After` pauses the `fetch` limiter as a fetch's does.
    func reportChangedSource(_ document: Document, store: any ResultStore) {
        guard let location = RemoteLocation(document.path), let recorded = store.sourceVersion(of: document.id),
              awaitFetchPermit() else { return }
        let change: String
        do {
            let current = try fetcher.version(of: location)
            guard current != recorded else { return }
            change = "changed at its source since its result was made (\(recorded) then, \(current ?? "no version") now)"
        } catch {
            if case .retry(_, let ms?) = error {  // a 429 or 503 with Retry-After: the server asks everyone to wait
                fetchLimiter?.pause(until: monotonicNanos() &+ RetryPolicy.nanos(milliseconds: ms))
            }
            guard case .fail(let reason) = error else { return }
            change = "is no longer at its source (\(reason))"
        }
        stats.update { $0.stats.changedAtSource += 1 }
        log(.warning, "'\(location.display)' \(change); the earlier result is kept: run it in a new batch to process it again", document)
    }
}
