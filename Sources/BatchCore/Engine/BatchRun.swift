/// One start of a batch: owns its lifecycle — the parts wired at start,
/// the state (running, then ended once), cancelling, and the teardown when
/// the scheduler says nothing more runs. Its jobs go through
/// `BatchRun+Jobs.swift`.
///
/// While it runs the engine's scheduler holds it; it holds neither the
/// engine nor its batch, and lets go of its processors when it ends, so a
/// batch freed after `wait` frees everything it started at once.
final class BatchRun: Workload, StageCallOwner, ResultWriterDelegate, @unchecked Sendable {
    // @unchecked: every field is a constant set in init, or lives behind a
    // lock (`Locked`, `ended`).
    let tenant: Tenant
    let options: BatchOptions
    let queue: any WorkQueue
    /// Renews the leases of claimed jobs, when the queue's leases expire.
    private let leaseKeeper: LeaseKeeper?
    let store: (any ResultStore)?
    let limiter: (any Limiter)?
    /// Fetches remote documents before their first stage, through `fetchLimiter`.
    let fetcher: RemoteFetcher
    let fetchLimiter: (any Limiter)?
    let budget: (any BudgetLedger)?
    let retry: RetryPolicy
    let stats: RunStats
    let kept: KeptResults?
    let dedupe: DedupeIndex?
    let pump: EventPump?
    let cancelFlag = CancelFlag()
    let scheduler: Scheduler
    let stageLabels: [String]
    let callsBlockThreads: Bool
    /// The stages' runners; emptied at the end, which lets go of the processors.
    private let runners: Locked<[StageRunner]>
    private let writer: ResultWriter
    private let databaseSinks: [DatabaseSink]
    private let sinkColumnCheck: SinkColumnCheck?
    private let sinks: [ResultSink]
    /// Calls abandoned at their timeout and not yet returned, by stage.
    let stuckCalls: Locked<[Int]>
    /// Jobs claimed beyond the one a worker runs (a queue that claims several at once).
    let claimed = Locked([ClaimedJob]())
    /// An operator paused dispatching (see `setPaused`).
    let paused = Locked(false)
    /// Failed documents that were added from memory: their content is not
    /// kept once they end, so they cannot run again (see `retry`).
    let failedFromMemory = Locked(Set<String>())
    private let ended = Monitor()
    private var endedState: BatchState? = nil
    private var failure: BatchCoreError? = nil

    init(_ parts: RunParts, config: BatchConfiguration, engine: Engine) {
        options = parts.options
        tenant = Tenant(cap: options.requestedWorkers, name: options.tenant)
        leaseKeeper = parts.queue.leaseRenewal.map { LeaseKeeper(parts.queue, every: $0) }
        queue = leaseKeeper ?? parts.queue
        store = parts.store
        limiter = parts.limiter
        fetcher = RemoteFetcher(memoryMax: options.fetchMemoryMax, timeout: options.fetchTimeout)
        fetchLimiter = parts.fetchLimiter
        budget = parts.budget
        retry = RetryPolicy(options: options)
        scheduler = engine.scheduler
        stageLabels = parts.stageLabels
        callsBlockThreads = !parts.stages.allSatisfy(\.nonBlocking)
        let stats = RunStats(requestRate: parts.limiter?.requests)
        self.stats = stats
        kept = options.keepResults ? KeptResults() : nil
        dedupe = options.dedupe ? parts.store.map(DedupeIndex.init) : nil
        writer = ResultWriter(store: parts.store, output: parts.output, outputPath: options.output,
                              every: options.checkpointEvery, interval: options.checkpointInterval)
        let pump = config.handler.map {
            EventPump(handler: $0, progressInterval: parts.options.progressInterval) { stats.snapshot }
        }
        self.pump = pump
        let events = pump.map { DocumentEventSink(pump: $0, onlyFailed: config.documentEvents == .failed, stats: stats) }
        databaseSinks = parts.databaseSinks
        sinkColumnCheck = SinkColumnCheck(parts.databaseSinks)
        let optional: [(any ResultSink)?] = [stats, kept, dedupe, writer, events]
        sinks = optional.compactMap { $0 } + parts.databaseSinks
        runners = Locked(parts.stages.enumerated().map { index, stage in
            StageRunner(stage: stage, index: index, limiter: index == parts.limitedStage ? parts.limiter : nil,
                        timeout: parts.options.timeout, graceNanos: UInt64(parts.options.timeoutGrace * 1e9),
                        watchdog: engine.watchdog, retry: RetryPolicy(options: parts.options))
        })
        stuckCalls = Locked(Array(repeating: 0, count: parts.stages.count))
        initCounters(parts, engine: engine)
    }

    private func initCounters(_ parts: RunParts, engine: Engine) {
        let spentBefore = parts.store?.spentBefore.cost ?? 0
        stats.update { c in
            c.allSourcesCounted = parts.knownCounts.allSatisfy { $0 != nil }
            c.knownTotal = UInt64(parts.knownCounts.reduce(0) { $0 + ($1 ?? 0) })
            c.stats.totalKnown = c.allSourcesCounted
            c.stats.costUSD = spentBefore
            c.recordPrepared(parts.prepared)
            if let sample = parts.sample {
                c.sampleSize = UInt64(sample.size)
                c.stats.sampledFrom = UInt64(sample.total)
            }
            c.stats.workers = callsBlockThreads ? min(parts.options.requestedWorkers, engine.options.maxWorkers)
                : parts.options.requestedWorkers  // pending calls hold no thread: the engine's cap does not apply
            c.stats.stageDurations = parts.stageLabels.map { StageDurations(stage: $0) }
            c.stats.state = .running
            c.startNanos = monotonicNanos()
        }
    }

    /// Starts the writer and the events, then hands the run to the scheduler.
    func start() {
        leaseKeeper?.start { [weak self] lost in
            for job in lost {
                self?.log(.warning, "the lease of this job was lost: another worker may run it too", job.job.document)
            }
        }
        writer.start(delegate: self)
        databaseSinks.forEach { $0.start(delegate: self) }
        pump?.start()
        scheduler.add(self)
    }

    var stageRunners: [StageRunner] { runners.withLock { $0 } }

    // MARK: State

    var isRunning: Bool { ended.withLock { endedState == nil } }

    /// The first error that stopped the run.
    var error: BatchCoreError? { ended.withLock { failure } }

    /// Waits until the run ends; false when `deadline` (monotonic ns) came first.
    func waitEnded(until deadline: UInt64?) -> Bool {
        ended.withLock {
            while endedState == nil {
                if let deadline {
                    if monotonicNanos() >= deadline { return false }
                    ended.wait(until: deadline)
                } else {
                    ended.wait()
                }
            }
            return true
        }
    }

    /// Stops dispatching; with `hard`, also asks in-flight calls to stop and
    /// stops delivering events about single documents (see `EventPump`).
    /// A graceful cancel turns hard after `shutdown.grace`.
    func cancel(hard: Bool) {
        if hard {
            cancelFlag.set()
            databaseSinks.forEach { $0.giveUp() }
            // A slow event handler must not hold the end back for a backlog.
            pump?.dropDocumentEvents()
        } else if !cancelFlag.isSet && isRunning {
            let deadline = monotonicNanos() + UInt64(options.shutdownGrace * 1e9)
            startThread(name: "bc-grace") { [self] in
                if !waitEnded(until: deadline) { cancel(hard: true) }
            }
        }
        scheduler.cancel(self)
    }

    func stop(because error: BatchCoreError) {
        let first: Bool = ended.withLock {
            guard failure == nil else { return false }
            failure = error
            return true
        }
        if first { cancel(hard: false) }
    }

    /// Last resort when in-flight calls will not return: writes what is
    /// finished and closes the store, so the process may exit at once.
    func abandon() {
        _ = writer.close(state: "interrupted")
    }

    // MARK: Results

    /// Fans a finished document out to every sink (failed first when its
    /// output does not fit `sink.columns`).
    func record(_ result: DocumentResult, persisted: Bool = true) {
        let result = sinkColumnCheck?.checked(result) ?? result
        if result.status == .failed, result.document.content != nil {
            failedFromMemory.withLock { _ = $0.insert(result.document.id) }
        }
        for sink in sinks { sink.accept(result, persisted: persisted) }
    }

    func committed(_ group: [DocumentResult]) {
        dedupe?.committed(group)
        databaseSinks.forEach { $0.committed(group.count) }
    }

    func failed(_ error: BatchCoreError) { stop(because: error) }

    func progress() -> RunProgress {
        let s = stats.snapshot
        return RunProgress(total: s.totalKnown ? s.total : nil, inFlight: s.inFlight, sinksWaiting: s.sinksWaiting)
    }

    func notify(_ notice: BatchNotice) {
        pump?.post(.notice(notice, stats.snapshot))
    }

    func log(_ level: LogLevel, _ message: String, _ document: Document?) {
        if let pump {
            pump.post(.log(level: level, message: message, document: document, stats.snapshot))
        } else if level >= .warning {
            let about = document.map { " [\($0.id)]" } ?? ""
            Diagnostics.write(message + about)
        }
    }

    // MARK: End

    /// Called once by the scheduler: nothing runs any more.
    func finished(cancelled: Bool) {
        stopStages()
        // Claimed ahead and never started: back to the queue, for another claimer.
        let unstarted: [ClaimedJob] = claimed.withLock { jobs in
            defer { jobs = [] }
            return jobs
        }
        unstarted.forEach { queue.giveBack($0, notBefore: monotonicNanos()) }
        leaseKeeper?.stop()
        var writeError = writer.close(state: cancelled ? "stopped" : "finished")
        for sink in databaseSinks {
            if let error = sink.close(), writeError == nil { writeError = error }
        }
        store?.close()
        let state: BatchState = cancelled ? .cancelled : .finished
        stats.end(state)
        ended.withLock {
            if failure == nil { failure = writeError }
            endedState = state
        }
        pump?.close(with: .finished(stats.snapshot))
        ended.broadcast()
    }

    /// Stops every stage, except one a timed-out call is still inside: its
    /// state must outlive that call, so it is left as it is.
    private func stopStages() {
        let stuck = stuckCalls.withLock { $0 }
        let stopping: [StageRunner] = runners.withLock { runners in
            defer { runners = [] }
            return runners
        }
        for runner in stopping.reversed() {
            let count = stuck[runner.index]
            if count > 0 {
                let calls = count == 1 ? "1 timed-out call is" : "\(count) timed-out calls are"
                log(.warning, "\(runner.stage.label): \(calls) still running; the processor is not stopped", nil)
            } else {
                runner.stage.instance.stop()
            }
        }
    }
}
