import CBatchCore
import Glibc

/// Documents, stages and options, run on an engine. Configure it, `start`
/// it, then `wait`, `cancel`, read `stats` and `results` from any thread.
public final class Batch: @unchecked Sendable {
    public let engine: Engine

    // Configuration: set before start, read-only after.
    private let config = Locked(Configuration())
    private struct Configuration {
        var options = BatchOptions()
        var stages: [StageSpec] = []
        var sources: [DocumentSource] = []
        var handler: EventPump.Handler? = nil
        var documentEvents = DocumentEvents.all
        var state = BatchState.new
    }

    // Fixed at start.
    private var options = BatchOptions()
    private var stages: [RunningStage] = []
    private var tenant: Tenant? = nil  // guarded by `ended`
    private var output: OutputWriter? = nil
    private var journal: Journal? = nil
    private var journalWriter: JournalWriter? = nil
    private var limiter: RateLimiter? = nil
    private var limitedStage = 0
    private var budget: Budget? = nil
    /// Sample mode: documents the input holds, and which of them run.
    private var sample: SampleSelection? = nil
    private var pump: EventPump? = nil
    private var documentEvents = DocumentEvents.all
    private let cancelFlag = CancelFlag()
    /// Calls abandoned at their timeout and not yet returned, by stage.
    private let stuckCalls = Locked([Int]())

    // Live state.
    private let counters = Locked(StatsCounters())
    /// Dedupe: finished results the journal has not committed yet, by content hash.
    private let uncommittedByHash = Locked([String: DocumentResult]())
    private let results = Locked([DocumentResult]())
    private let reader = Locked(SourceReader())
    private let ended = Monitor()
    private var endedState: BatchState? = nil
    private var failure: BatchCoreError? = nil

    public init(engine: Engine) {
        self.engine = engine
    }

    // MARK: Configuration

    public func set(_ key: String, _ value: String) throws {
        try configure("set option '\(key)'") { try $0.options.set(key, value) }
    }

    /// Appends a stage; returns its label.
    @discardableResult
    public func addStage(processor: String, label: String? = nil) throws -> String {
        guard !processor.isEmpty else {
            throw BatchCoreError(.invalidArgument, "a stage needs a processor name or path")
        }
        return try configure("add stage '\(processor)'") { config in
            let base = label ?? StageSpec.defaultLabel(for: processor)
            var unique = base
            var n = 2
            while config.stages.contains(where: { $0.label == unique }) {
                if label != nil { throw BatchCoreError(.invalidArgument, "a stage labelled '\(base)' already exists") }
                unique = "\(base)-\(n)"
                n += 1
            }
            config.stages.append(StageSpec(label: unique, processor: processor))
            return unique
        }
    }

    /// Sets an option of the stage labelled `stage` (nil: the last stage).
    public func setStage(_ stage: String?, _ key: String, _ value: String) throws {
        try configure("set stage option '\(key)'") { config in
            guard !config.stages.isEmpty else {
                throw BatchCoreError(.state, "no stage to set '\(key)' on: add a stage (--processor) first")
            }
            let index: Int
            if let stage {
                guard let found = config.stages.firstIndex(where: { $0.label == stage }) else {
                    let labels = config.stages.map(\.label).joined(separator: ", ")
                    throw BatchCoreError(.notFound, "no stage labelled '\(stage)'; stages: \(labels)")
                }
                index = found
            } else {
                index = config.stages.count - 1
            }
            config.stages[index].options[key] = value
        }
    }

    public var stageLabels: [String] { config.withLock { $0.stages.map(\.label) } }

    public func add(_ source: DocumentSource) throws {
        try configure("add documents") { $0.sources.append(source) }
    }

    /// Which documents produce a `.documentFinished` event.
    public enum DocumentEvents: Sendable { case all, failed }

    public func onEvent(documents: DocumentEvents = .all, _ handler: @escaping @Sendable (BatchEvent) -> Void) throws {
        try configure("set the event handler") {
            $0.handler = handler
            $0.documentEvents = documents
        }
    }

    public var batchOptions: BatchOptions { config.withLock { $0.options } }

    private func configure<T>(_ what: String, _ body: (inout Configuration) throws -> T) throws -> T {
        try config.withLock { config in
            guard config.state == .new else {
                throw BatchCoreError(.state, "cannot \(what): the batch has already started; configure a batch before starting it")
            }
            return try body(&config)
        }
    }

    // MARK: Running

    /// Starts the stages' processors and begins processing; returns at once.
    /// Nothing is processed when a stage cannot start.
    public func start() throws {
        try config.withLock { config in
            guard config.state == .new else { throw BatchCoreError(.state, "the batch has already started") }
            guard !engine.scheduler.isShutDown else {
                throw BatchCoreError(.state, "the engine was shut down: start the batch on a new engine")
            }
            guard !config.stages.isEmpty else {
                throw BatchCoreError(.state, "the batch has no stage: add one with --processor (bc_batch_add_stage)")
            }
            options = config.options
            // Duplicate ids are refused before anything starts.
            var sourceReader = SourceReader(sources: config.sources)
            try sourceReader.checkUniqueIds()
            try configureRateLimit(config)
            // Stages start before the journal records the run: a stage that
            // refuses (say, an option holding what should have been a secret)
            // leaves nothing on disk.
            stages = try startStages(config.stages)
            stuckCalls.withLock { $0 = Array(repeating: 0, count: stages.count) }
            var opened: Journal? = nil
            do {
                let journal = try openJournal(config)
                opened = journal
                try configureSpending(config, journal: journal)
                output = try OutputRecovery.open(path: options.output, journal: journal, resuming: options.resume,
                                                 retryFailed: options.retryFailed, overwrite: options.overwrite,
                                                 groupLimit: JournalWriter.groupLimit(every: options.checkpointEvery))
                if let journal {
                    try journal.beginRun()
                    journalWriter = try JournalWriter(
                        journal: journal, output: output, outputPath: options.output,
                        every: options.checkpointEvery, interval: options.checkpointInterval,
                        onCommit: { [weak self] group in self?.committed(group) },
                        onFailure: { [weak self] error in self?.stop(because: error) },
                        progress: { [weak self] in
                            guard let stats = self?.stats else { return (nil, 0) }
                            return (stats.totalKnown ? stats.total : nil, stats.inFlight)
                        })
                    self.journal = journal
                }
            } catch {
                stopStages()
                opened?.close()
                throw error
            }
            reader.withLock { $0 = sourceReader }
            counters.withLock { c in
                let counts = config.sources.map(\.knownCount)
                c.allSourcesCounted = counts.allSatisfy { $0 != nil }
                c.knownTotal = UInt64(counts.reduce(0) { $0 + ($1 ?? 0) })
                c.stats.totalKnown = c.allSourcesCounted
                if let sample {
                    c.sampleSize = UInt64(sample.size)
                    c.stats.sampledFrom = UInt64(sample.total)
                }
                c.stats.workers = min(options.requestedWorkers, engine.options.maxWorkers)
                c.stats.stageDurations = config.stages.map { StageDurations(stage: $0.label) }
                c.stats.state = .running
                c.startNanos = monotonicNanos()
            }
            documentEvents = config.documentEvents
            if let handler = config.handler {
                let pump = EventPump(handler: handler, progressInterval: options.progressInterval) { [unowned self] in stats }
                self.pump = pump
                pump.start()
            }
            config.state = .running
        }
        let tenant = engine.scheduler.add(self, cap: options.requestedWorkers, inOrder: options.sequential)
        // The tenant refers back to this batch: keep it only while running (a
        // quick batch may already have ended), or the pair is never freed.
        ended.withLock { if endedState == nil { self.tenant = tenant } }
    }

    /// The engine's limiter this batch draws from, and the stage it guards.
    private func configureRateLimit(_ config: Configuration) throws {
        guard options.rateLimit != nil || options.tokenLimit != nil else { return }
        if let label = options.limitedStage {
            guard let index = config.stages.firstIndex(where: { $0.label == label }) else {
                throw BatchCoreError(.option, "rate_limit.stage '\(label)' is not a stage; stages: "
                    + config.stages.map(\.label).joined(separator: ", "))
            }
            limitedStage = index
        } else {
            limitedStage = config.stages.count - 1
        }
        let name = options.limiterName ?? "batch-\(UInt(bitPattern: ObjectIdentifier(self).hashValue))"
        limiter = try engine.limiter(named: name, requests: options.rateLimit, tokens: options.tokenLimit,
                                     burst: options.rateBurst)
    }

    /// Tokens a call is expected to use, before it says: what the processor
    /// estimates, else about four bytes a token of what it reads.
    private func tokenEstimate(_ job: Job, _ stage: RunningStage) -> TokenEstimate {
        let doc = DocumentInput(document: job.document, stage: job.stage, attempt: job.stageAttempts + 1, input: job.input)
        if let estimate = stage.instance.estimate(doc) { return estimate }
        if let input = job.input { return TokenEstimate(input: UInt64(input.count / 4), output: 0) }
        var info = stat()
        guard let path = job.document.path, FileNameBytes.withCString(path, { stat($0, &info) }) == 0 else {
            return TokenEstimate(input: 0, output: 0)
        }
        return TokenEstimate(input: UInt64(info.st_size / 4), output: 0)
    }

    /// What a new document will likely cost, before any has finished: its
    /// first stage's estimate at each priced stage's prices.
    private func costGuess(_ job: Job) -> Double {
        stages.reduce(0.0) { sum, stage in
            guard let prices = stage.prices else { return sum }
            let estimate = tokenEstimate(job, stage)
            return sum + prices.cost(input: estimate.input, output: estimate.output)
        }
    }

    /// The budget, the sample, and what earlier runs of the journal spent.
    private func configureSpending(_ config: Configuration, journal: Journal?) throws {
        let before = journal?.spentBefore ?? (cost: 0, documents: 0)
        counters.withLock { $0.stats.costUSD = before.cost }
        if let limit = options.budget {
            guard stages.contains(where: { $0.prices != nil }) else {
                throw BatchCoreError(.option, "a budget needs prices: no stage knows what its tokens cost; set price.input and price.output (--price-input, --price-output) in US dollars per million tokens")
            }
            budget = Budget(limit: limit, spent: before.cost, finished: before.documents)
        }
        if let size = options.sample {
            let counts = config.sources.map(\.knownCount)
            guard counts.allSatisfy({ $0 != nil }) else {
                throw BatchCoreError(.option, "sample needs to know how many documents there are before it starts, and paths on standard input are read only once: write them to a file and pass that file (a manifest or a list) instead")
            }
            sample = SampleSelection(size: size, of: counts.reduce(0) { $0 + $1! })
        }
    }

    /// The budget would likely be crossed: start nothing more.
    private func stopForBudget(_ budget: Budget) {
        let first = counters.withLock { c in
            defer { c.stats.budgetReached = true }
            return !c.stats.budgetReached
        }
        guard first else { return }
        log(.warning, "budget reached: \(dollars(budget.spent)) spent of \(dollars(budget.limit)); no new document starts, those in flight finish", nil)
        cancel()
    }

    /// Opens (or resumes) the journal when a checkpoint is set.
    private func openJournal(_ config: Configuration) throws -> Journal? {
        guard let path = options.checkpoint else {
            for (flag, on) in [("resume", options.resume), ("dedupe", options.dedupe)] where on {
                throw BatchCoreError(.option, "option '\(flag)' needs a journal: set 'checkpoint' (--checkpoint FILE)")
            }
            return nil
        }
        if !options.resume, !options.overwrite, let output = options.output, access(path, F_OK) != 0 {
            // Refused before the journal is created, so nothing is left behind.
            try OutputRecovery.refuseUnrecorded(output, journal: path, tail: nil)
        }
        let run = RunConfiguration(
            stages: config.stages.map { .init(label: $0.label, processor: $0.processor, options: $0.options) },
            inputs: config.sources.map(\.identity),
            dedupe: options.dedupe)
        return try Journal(path: path, configuration: run, resume: options.resume, force: options.forceResume,
                           output: options.output)
    }

    private func startStages(_ specs: [StageSpec]) throws -> [RunningStage] {
        var started: [RunningStage] = []
        do {
            for spec in specs {
                let processor = try engine.processor(named: spec.processor)
                let stageConfig = StageConfig(label: spec.label, values: spec.options)
                try stageConfig.validate(against: processor.info)
                let instance = try Isolation.start(processor, config: stageConfig, options: options)
                let prices = options.explicitPrices ?? stageConfig.defaultPrices.withLock { $0 }
                started.append(RunningStage(label: spec.label, name: processor.info.name, instance: instance, prices: prices))
            }
        } catch {
            started.reversed().forEach { $0.instance.stop() }
            throw error
        }
        return started
    }

    /// Stops every stage, except one a timed-out call is still inside: its
    /// state must outlive that call, so it is left as it is.
    private func stopStages() {
        let stuck = stuckCalls.withLock { $0 }
        for (index, stage) in stages.enumerated().reversed() {
            if index < stuck.count, stuck[index] > 0 {
                let calls = stuck[index] == 1 ? "1 timed-out call is" : "\(stuck[index]) timed-out calls are"
                log(.warning, "\(stage.label): \(calls) still running; the processor is not stopped", nil)
            } else {
                stage.instance.stop()
            }
        }
        stages = []
    }

    /// Waits until the batch ends and every event was delivered. Returns
    /// false when `timeout` (seconds) ran out first.
    public func wait(timeout: Double? = nil) throws -> Bool {
        let state = config.withLock { $0.state }
        guard state != .new else { throw BatchCoreError(.state, "the batch has not been started") }
        if let pump, pump.isCurrentThread {
            throw BatchCoreError(.state, "cannot wait for a batch from its own event handler; return from the handler instead")
        }
        if WorkingThread.isWorking(for: self) {
            throw BatchCoreError(.state, "cannot wait for a batch from inside one of its own processor calls: the wait would never end; return from the processor instead")
        }
        let deadline = timeout.map { monotonicNanos() + UInt64(max(0, $0) * 1e9) }
        let ended: Bool = self.ended.withLock {
            while endedState == nil {
                if let deadline {
                    if monotonicNanos() >= deadline { return false }
                    self.ended.wait(until: deadline)
                } else {
                    self.ended.wait()
                }
            }
            return true
        }
        guard ended else { return false }
        return pump?.waitDrained(until: deadline) ?? true
    }

    /// Stops dispatching; with `hard`, also asks in-flight calls to stop and
    /// stops delivering events about single documents (see `EventPump`).
    /// A graceful cancel turns hard after `shutdown.grace`.
    public func cancel(hard: Bool = false) {
        if hard {
            cancelFlag.set()
            // A slow event handler must not hold the end back for a backlog.
            config.withLock { _ in pump }?.dropDocumentEvents()
        }
        if !hard && !cancelFlag.isSet && isRunning {
            let grace = options.shutdownGrace
            startThread(name: "bc-grace") { [weak self] in
                let deadline = monotonicNanos() + UInt64(grace * 1e9)
                while monotonicNanos() < deadline {
                    guard let self, self.isRunning else { return }
                    sleepSeconds(0.05)
                }
                self?.cancel(hard: true)
            }
        }
        // A cancel racing with start finds the tenant once it is registered.
        var tenant = ended.withLock { self.tenant }
        while tenant == nil && isRunning {
            sched_yield()
            tenant = ended.withLock { self.tenant }
        }
        if let tenant { engine.scheduler.cancel(tenant) }
    }

    /// Last resort when in-flight calls will not return: commits what is
    /// finished and closes the journal, so the process may exit at once.
    /// Documents still in flight run again on resume.
    public func abandon() {
        _ = journalWriter?.close(state: "interrupted")
        _ = output?.flush()
    }

    /// The first error that stopped the batch (e.g. the output file could not be written).
    public var error: BatchCoreError? { ended.withLock { failure } }

    public var isRunning: Bool { config.withLock { $0.state == .running } && ended.withLock { endedState == nil } }

    public var stats: BatchStats {
        let state = ended.withLock { endedState } ?? config.withLock { $0.state }
        var s = counters.withLock { $0.snapshot(now: monotonicNanos()) }
        s.state = state
        if s.sampledFrom > 0, let rate = limiter?.requests {
            // The whole input cannot go faster than its rate limit lets it.
            s.projectedSeconds = max(s.projectedSeconds, Double(s.sampledFrom) / rate.perSecond)
        }
        return s
    }

    /// The rate limiter this batch draws from, if it has one.
    public var rateLimiter: RateLimiter? { config.withLock { $0.state == .new } ? nil : limiter }

    /// Results finished so far, in finishing order (when `keep_results`).
    public var finishedResults: [DocumentResult] { results.withLock { $0 } }

    // MARK: Recording

    /// Counts a finished document and hands it on; `persisted: false` keeps
    /// it out of the journal and the output.
    private func record(_ result: DocumentResult, persisted: Bool = true) {
        counters.withLock { $0.record(result) }
        if options.keepResults { results.withLock { $0.append(result) } }
        if options.dedupe, let hash = result.contentHash, result.status == .ok || result.status == .partial {
            uncommittedByHash.withLock { if $0[hash] == nil { $0[hash] = result } }
        }
        if persisted {
            if let journalWriter {
                journalWriter.submit(result)
            } else if let output, let error = output.write(result) {
                stop(because: error)
            }
        }
        if let pump, documentEvents == .all || result.status == .failed {
            pump.post(.documentFinished(result, stats))
        }
    }

    /// The journal committed these: dedupe finds them there from now on.
    private func committed(_ group: [DocumentResult]) {
        guard options.dedupe else { return }
        uncommittedByHash.withLock { pending in
            for result in group {
                if let hash = result.contentHash, pending[hash]?.document.id == result.document.id {
                    pending[hash] = nil
                }
            }
        }
    }

    private func stop(because error: BatchCoreError) {
        let first: Bool = ended.withLock {
            guard failure == nil else { return false }
            failure = error
            return true
        }
        if first { cancel() }
    }

    private func notify(_ notice: BatchNotice) {
        pump?.post(.notice(notice, stats))
    }

    fileprivate func log(_ level: LogLevel, _ message: String, _ document: Document?) {
        if let pump {
            pump.post(.log(level: level, message: message, document: document, stats))
        } else if level >= .warning {
            let about = document.map { " [\($0.id)]" } ?? ""
            Diagnostics.write(message + about)
        }
    }
}

// MARK: - Workload

extension Batch: Workload {
    func nextJob() -> Job? {
        while true {
            // The index is taken with the document, under the same lock, so
            // concurrent workers agree on input order.
            let (next, index) = reader.withLock { ($0.next(), $0.count - 1) }
            if case .duplicate(let document, let first) = next {
                rejectDuplicate(document, firstAt: first)
                continue
            }
            guard case .document(let document) = next else { return endOfInput(next) }
            counters.withLock { $0.discovered += 1 }
            if let sample, !sample.selects(index) { continue }
            // Resuming: what the journal finished is not run again.
            if let journal, let status = journal.status(of: document.id) {
                counters.withLock { $0.restore(status) }
                continue
            }
            return Job(document: document)
        }
    }

    /// A stream repeated an id: that document fails, reported and counted,
    /// but stays out of the output and the journal, which hold the result of
    /// the first document with the id.
    private func rejectDuplicate(_ document: Document, firstAt first: String) {
        counters.withLock { $0.discovered += 1 }
        let result = DocumentResult(
            document: document, status: .failed, output: nil, outputIsJSON: false,
            error: "duplicate id (first at \(first))", attempts: 0, failedStage: nil,
            failedStageLabel: nil, durationMs: 0, inputTokens: 0, outputTokens: 0)
        record(result, persisted: false)
    }

    private func endOfInput(_ next: SourceReader.Next) -> Job? {
        switch next {
        case .document, .duplicate:
            return nil
        case .sourceError(let error):
            log(.error, "input: \(error.message)", nil)
            stop(because: error)
            return nil
        case .end:
            counters.withLock { c in
                c.stats.totalKnown = true
                c.knownTotal = c.discovered
            }
            return nil
        }
    }

    /// Dedupe: a finished document with the same content lends its result.
    private func reuseIdenticalContent(_ job: inout Job) -> Bool {
        guard options.dedupe, let journal, let path = job.document.path else { return false }
        var hex = [CChar](repeating: 0, count: 65)
        guard FileNameBytes.withCString(path, { bc_shim_sha256_file($0, &hex) }) == 0 else { return false }  // unreadable: the processor reports it
        let hash = String(decoding: hex.prefix(64).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        job.contentHash = hash
        let recent = uncommittedByHash.withLock { $0[hash] }
        guard let original = recent.map({ (id: $0.document.id, status: $0.status, output: $0.output, json: $0.outputIsJSON) })
                ?? journal.finished(withHash: hash) else { return false }
        counters.withLock { $0.stats.deduplicated += 1 }
        record(DocumentResult(
            document: job.document, status: original.status, output: original.output,
            outputIsJSON: original.json, error: nil, attempts: 0, failedStage: nil,
            failedStageLabel: nil, durationMs: 0, inputTokens: 0, outputTokens: 0,
            contentHash: hash, duplicateOf: original.id))
        return true
    }

    func execute(_ job: Job) -> JobOutcome {
        var job = job
        let waited = job.waitingFor
        job.waitingFor = nil
        counters.withLock { c in
            c.stats.inFlight += 1
            switch waited {
            case .retry: c.stats.retryWaiting -= 1
            case .rateLimit: c.stats.rateLimitWaiting -= 1
            case nil: break
            }
        }
        let outcome = WorkingThread.working(for: self) { runStages(job) }
        if case .detached = outcome { return outcome }  // the watchdog counted it out
        counters.withLock { $0.stats.inFlight -= 1 }
        return outcome
    }

    private func runStages(_ job: Job) -> JobOutcome {
        var job = job
        if job.attempts == 0 && job.contentHash == nil && reuseIdenticalContent(&job) { return .finished }
        if job.attempts == 0, let budget, !budget.admit(firstGuess: { costGuess(job) }) {
            stopForBudget(budget)
            return .abandoned
        }

        while job.stage < stages.count {
            if cancelFlag.isSet {
                return .abandoned
            }
            let stage = stages[job.stage]
            let limited = job.stage == limitedStage ? limiter : nil
            let estimate = limited == nil ? 0 : Double(tokenEstimate(job, stage).total)
            if let limited, let until = limited.acquire(estimate: estimate) {
                job.waitingFor = .rateLimit
                let wait = Double(until &- min(until, monotonicNanos())) / 1e9
                counters.withLock { c in
                    c.stats.rateLimitWaiting += 1
                    c.stats.rateLimitWaitSeconds += wait
                }
                return .rateLimited(job, until: until)
            }
            let document = job.document
            let call = CallContext(cancelFlag: cancelFlag) { [weak self] level, message in
                self?.log(level, "\(stage.label): \(message)", document)
            }
            job.stageAttempts += 1
            // The document's attempts: its first call and each retry; the
            // first call of a later stage is the same attempt going on.
            if job.stage == 0 || job.stageAttempts > 1 { job.attempts += 1 }
            let began = monotonicNanos()
            let watched = armDeadline(call, job, began: began, enforcedBy: stage.instance)
            let outcome = stage.instance.process(call, DocumentInput(
                document: job.document, stage: job.stage, attempt: job.stageAttempts, input: job.input))
            if watched {
                guard call.claim(.returned) else {
                    stuckCalls.withLock { $0[job.stage] -= 1 }
                    return .detached
                }
                engine.watchdog.disarm(call)
            }
            let callNanos = monotonicNanos() - began
            job.busyNanos &+= callNanos
            job.inputTokens = Count.sum(job.inputTokens, call.inputTokens)
            job.outputTokens = Count.sum(job.outputTokens, call.outputTokens)
            job.units = Count.sum(job.units, call.units)
            if let prices = stage.prices { job.costUSD += prices.cost(input: call.inputTokens, output: call.outputTokens) }
            limited?.settle(estimate: estimate, actual: Double(call.inputTokens) + Double(call.outputTokens))
            if outcome == .retry, let limited, let ms = call.retryAfterMs {
                // One Retry-After (a 429) pauses everyone on this limiter.
                limited.pause(until: monotonicNanos() &+ Self.nanos(milliseconds: ms))
                notify(.rateLimitPause(document: job.document, stage: stage.label, seconds: Double(ms) / 1000))
            }
            counters.withLock { c in
                if outcome == .retry, limited != nil, call.retryAfterMs != nil { c.stats.rateLimitPauses += 1 }
                c.stats.stageDurations[job.stage].observe(seconds: Double(callNanos) / 1e9)
                c.stats.attempts += 1
                if job.stageAttempts > 1 { c.stats.retries += 1 }
            }

            switch outcome {
            case .done, .partial:
                if outcome == .partial {
                    job.partial = true
                    if let error = call.error { job.partialError = error }
                }
                // A stage that succeeded after retries leaves no retry message behind.
                job.lastError = job.partialError
                job.input = call.output ?? []
                job.stage += 1
                job.stageAttempts = 0
                if job.stage == stages.count {
                    finish(job, status: job.partial ? .partial : .ok, output: call.output, json: call.outputIsJSON)
                    return .finished
                }
            case .retry where call.overranDeadline:
                // Stopped when the deadline asked it to (a result that came
                // late but complete is kept above).
                counters.withLock { $0.stats.timeouts += 1 }
                return retryOrGiveUp(job, reason: CallContext.timeoutMessage(call.timeout ?? 0), retryAfterMs: nil)
            case .retry:
                return retryOrGiveUp(job, reason: call.error ?? "asked for a retry", retryAfterMs: call.retryAfterMs)
            case .fail:
                let reason = call.error ?? "processor '\(stage.name)' failed without a message"
                job.lastError = reason
                finish(job, status: .failed, output: nil, json: false, failedStage: job.stage)
                return .finished
            }
        }
        return .finished
    }

    /// A retryable failure: the job waits for its next attempt, or fails
    /// when it has used them all.
    private func retryOrGiveUp(_ job: Job, reason: String, retryAfterMs: UInt64?) -> JobOutcome {
        var job = job
        job.lastError = reason
        if cancelFlag.isSet { return .abandoned }
        if job.stageAttempts < options.retryAttempts {
            job.waitingFor = .retry
            counters.withLock { $0.stats.retryWaiting += 1 }
            let delay = retryAfterMs.map(Self.nanos) ?? backoff(attempt: job.stageAttempts)
            notify(.retry(document: job.document, stage: stages[job.stage].label, attempt: job.stageAttempts + 1,
                          delaySeconds: Double(delay) / 1e9, reason: reason))
            return .retry(job, afterNanos: delay)
        }
        let attempts = job.stageAttempts == 1 ? "1 attempt" : "\(job.stageAttempts) attempts"
        job.lastError = "gave up after \(attempts): \(reason)"
        finish(job, status: .failed, output: nil, json: false)
        return .finished
    }

    // MARK: Timeouts

    /// Gives the call its deadline; true when the watchdog guards it (the
    /// processor does not stop at the deadline by itself).
    private func armDeadline(_ call: CallContext, _ job: Job, began: UInt64, enforcedBy instance: ProcessorInstance) -> Bool {
        guard let timeout = options.timeout else { return false }
        let deadline = began &+ UInt64(timeout * 1e9)
        call.timeout = timeout
        call.deadline = deadline
        call.killGraceNanos = UInt64(options.timeoutGrace * 1e9)
        guard !instance.enforcesDeadline else { return false }
        let grace = call.killGraceNanos
        engine.watchdog.arm(call, deadline: deadline) { [self] in
            // First ask the call to stop; abandon it only if it does not.
            call.markOverran()
            engine.watchdog.arm(call, deadline: deadline &+ grace) { [self] in
                if call.claim(.timedOut) { abandonOverdue(job, timeout: timeout) }
            }
        }
        return true
    }

    /// The watchdog gave up on a call: its worker stays stuck inside the
    /// processor, while the document is retried (or fails) and another
    /// worker takes the stuck one's place.
    private func abandonOverdue(_ job: Job, timeout: Double) {
        var job = job
        stuckCalls.withLock { $0[job.stage] += 1 }
        job.busyNanos &+= UInt64(timeout * 1e9)
        counters.withLock { c in
            c.stats.stageDurations[job.stage].observe(seconds: timeout)
            c.stats.attempts += 1
            c.stats.timeouts += 1
            if job.stageAttempts > 1 { c.stats.retries += 1 }
            c.stats.inFlight -= 1
        }
        let message = CallContext.timeoutMessage(timeout)
        log(.warning, "\(stages[job.stage].label): \(message); the call is abandoned and its thread replaced", job.document)
        let outcome = retryOrGiveUp(job, reason: message, retryAfterMs: nil)
        var tenant = ended.withLock { self.tenant }
        while tenant == nil {  // a call can start before `start` has stored the tenant
            sched_yield()
            tenant = ended.withLock { self.tenant }
        }
        engine.scheduler.replaceStuckWorker(tenant!, outcome)
    }

    /// A Retry-After in nanoseconds; an absurd one means "not for centuries",
    /// never a clock that wraps round to "now".
    private static func nanos(milliseconds ms: UInt64) -> UInt64 {
        let (nanos, overflow) = ms.multipliedReportingOverflow(by: 1_000_000)
        return overflow ? UInt64(Int64.max) : min(nanos, UInt64(Int64.max))
    }

    private func backoff(attempt: Int) -> UInt64 {
        Backoff(base: options.retryBase, max: options.retryMax, jitter: options.retryJitter).delayNanos(afterAttempt: attempt)
    }

    private func finish(_ job: Job, status: DocumentStatus, output: [UInt8]?, json: Bool, failedStage: Int? = nil) {
        budget?.finished(cost: job.costUSD)
        var failed = failedStage
        if status == .failed && failed == nil { failed = job.stage }
        record(DocumentResult(
            document: job.document,
            status: status,
            output: output,
            outputIsJSON: json,
            error: job.lastError,
            attempts: job.attempts,
            failedStage: failed,
            failedStageLabel: failed.map { stages[$0].label },
            durationMs: Double(job.busyNanos) / 1e6,
            inputTokens: job.inputTokens,
            outputTokens: job.outputTokens,
            units: job.units,
            costUSD: job.costUSD,
            contentHash: job.contentHash))
    }

    func finished(cancelled: Bool) {
        stopStages()
        if let journalWriter, let error = journalWriter.close(state: cancelled ? "stopped" : "finished") {
            ended.withLock { if failure == nil { failure = error } }
        }
        journalWriter = nil
        journal?.close()
        journal = nil
        if let output, let error = output.flush() {
            ended.withLock { if failure == nil { failure = error } }
        }
        output = nil
        let state: BatchState = cancelled ? .cancelled : .finished
        counters.withLock { $0.endNanos = monotonicNanos() }
        // The tenant holds the batch while it runs; letting go of it here
        // breaks that cycle so an ended batch can be freed.
        ended.withLock {
            endedState = state
            tenant = nil
        }
        pump?.close(with: .finished(stats))
        ended.broadcast()
    }
}
