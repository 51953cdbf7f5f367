/// Documents, stages and options, run on an engine. Configure it, `start`
/// it, then `wait`, `cancel`, read `stats` and `results` from any thread.
/// Each start makes a `BatchRun`, which does the running.
public final class Batch: Sendable {
    public let engine: Engine
    /// Its configuration, then its run: `start` holds the lock until the
    /// run is running, so a cancel or a stats call made meanwhile waits.
    private let config = Locked(BatchConfiguration())

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
        try configure("add documents") { try $0.sources.append(source, limit: $0.options.contentMaxSize) }
    }

    /// Adds documents held in memory, all or none: one over
    /// `content.max_size`, or whose id is given twice among them or was
    /// given before to a file or a content, refuses them all, its error
    /// saying which it is ("document 3 of 10: ...").
    public func add(contents: [ContentSource]) throws {
        try configure("add documents") { try $0.sources.append(contents: contents, limit: $0.options.contentMaxSize) }
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

    private func configure<T>(_ what: String, _ body: (inout BatchConfiguration) throws -> T) throws -> T {
        try config.withLock { config in
            guard config.run == nil else {
                throw BatchCoreError(.state, "cannot \(what): the batch has already started; configure a batch before starting it")
            }
            return try body(&config)
        }
    }

    // MARK: Running

    /// Starts the stages' processors and begins processing; returns at once.
    /// Nothing is processed when a stage cannot start.
    public func start() throws {
        try start(seams: BatchSeams())
    }

    /// Starts with the given seams (a work queue, a result store, limits)
    /// in place of the local ones: a batch shared with other processes.
    public func start(seams: BatchSeams) throws {
        try config.withLock { config in
            guard config.run == nil else { throw BatchCoreError(.state, "the batch has already started") }
            guard !engine.scheduler.isShutDown else {
                throw BatchCoreError(.state, "the engine was shut down: start the batch on a new engine")
            }
            guard !config.stages.isEmpty else {
                throw BatchCoreError(.state, "the batch has no stage: add one with --processor (bc_batch_add_stage)")
            }
            let name = "batch-\(UInt(bitPattern: ObjectIdentifier(self).hashValue))"
            let parts = try RunParts.make(config, engine: engine, seams: seams, name: name)
            if let cap = parts.options.tenantMaxWorkers { engine.scheduler.setTenantCap(parts.options.tenant, cap) }
            let run = BatchRun(parts, config: config, engine: engine)
            config.run = run
            run.start()
        }
    }

    private var run: BatchRun? { config.withLock { $0.run } }

    /// Waits until the batch ends and every event was delivered. Returns
    /// false when `timeout` (seconds) ran out first.
    public func wait(timeout: Double? = nil) throws -> Bool {
        guard let run else { throw BatchCoreError(.state, "the batch has not been started") }
        if let pump = run.pump, pump.isCurrentThread {
            throw BatchCoreError(.state, "cannot wait for a batch from its own event handler; return from the handler instead")
        }
        if WorkingThread.isWorking(for: run) {
            throw BatchCoreError(.state, "cannot wait for a batch from inside one of its own processor calls: the wait would never end; return from the processor instead")
        }
        let deadline = timeout.map { monotonicNanos() + UInt64(max(0, $0) * 1e9) }
        guard run.waitEnded(until: deadline) else { return false }
        return run.pump?.waitDrained(until: deadline) ?? true
    }

    /// Stops dispatching; with `hard`, also asks in-flight calls to stop and
    /// stops delivering events about single documents (see `EventPump`).
    /// A graceful cancel turns hard after `shutdown.grace`.
    public func cancel(hard: Bool = false) {
        run?.cancel(hard: hard)
    }

    /// Runs documents that failed in this run again, at once, while the
    /// batch runs: their attempts go on counting, and each one's new result
    /// replaces its failed one in the journal and, once the batch ends, in
    /// the output file. Needs a journal. Returns the ids put back in the
    /// queue; documents that did not fail in this run (or are already
    /// waiting to run again) are left out. Refuses documents added from
    /// memory: their content is gone.
    public func retry(ids: [String]) throws -> [String] {
        guard let run else { throw BatchCoreError(.state, "the batch has not been started") }
        guard run.store != nil else {
            throw BatchCoreError(.state, "this batch keeps no journal, so its failed documents cannot be found to run again; set 'checkpoint' (--checkpoint FILE)")
        }
        guard run.isRunning else { throw BatchCoreError(.state, "the batch has ended: resume it with its failed documents (--resume --retry-failed)") }
        if let held = failedFromMemory(ids).first {
            throw BatchCoreError(.invalidArgument, "document '\(held)' was added from memory (content, no file) and its content is not kept once it ends, so it cannot run again in this batch: add it again, with its content, to a new batch")
        }
        return run.runAgain(ids: ids)
    }

    /// Those of `ids` that failed after being added from memory: `retry` refuses them.
    public func failedFromMemory(_ ids: [String]) -> [String] {
        guard let run else { return [] }
        return run.failedFromMemory.withLock { held in ids.filter(held.contains) }
    }

    /// Pauses (true) or resumes (false) dispatching: calls in flight go
    /// on, nothing new starts while paused. False when the batch is not
    /// running (not started, ended or cancelled).
    @discardableResult
    public func setPaused(_ paused: Bool) -> Bool {
        run?.setPaused(paused) ?? false
    }

    public var isPaused: Bool { run?.isPaused ?? false }

    /// Last resort when in-flight calls will not return: commits what is
    /// finished and closes the journal, so the process may exit at once.
    /// Documents still in flight run again on resume.
    public func abandon() {
        run?.abandon()
    }

    /// The first error that stopped the batch (e.g. the output file could not be written).
    public var error: BatchCoreError? { run?.error }

    public var isRunning: Bool { run?.isRunning ?? false }

    public var stats: BatchStats {
        guard let run else { return BatchStats() }
        return run.stats.snapshot
    }

    /// The rate limiter this batch draws from, if it has one.
    public var rateLimiter: RateLimiter? { run?.limiter as? RateLimiter }

    /// Results finished so far, in finishing order (when `keep_results`).
    public var finishedResults: [DocumentResult] { run?.kept?.all ?? [] }
}

/// What a batch is configured with before it starts.
struct BatchConfiguration {
    var options = BatchOptions()
    var stages: [StageSpec] = []
    var sources = BatchSources()
    var handler: EventPump.Handler? = nil
    var documentEvents = Batch.DocumentEvents.all
    /// Set once, by `start`.
    var run: BatchRun? = nil
}
