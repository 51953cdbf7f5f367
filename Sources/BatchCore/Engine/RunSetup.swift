import Glibc

/// The seams a run goes through; nil picks the local implementation.
public struct BatchSeams: Sendable {
    public var queue: (any WorkQueue)?
    public var store: (any ResultStore)?
    public var limiter: (any Limiter)?
    public var budget: (any BudgetLedger)?

    public init(queue: (any WorkQueue)? = nil, store: (any ResultStore)? = nil,
                limiter: (any Limiter)? = nil, budget: (any BudgetLedger)? = nil) {
        self.queue = queue
        self.store = store
        self.limiter = limiter
        self.budget = budget
    }
}

/// Everything a run is made of, built and checked before anything runs: a
/// stage that refuses, a journal that cannot resume, an output that would
/// be lost each stop the start with nothing left behind.
struct RunParts {
    let options: BatchOptions
    var stages: [RunningStage] = []
    var queue: any WorkQueue
    var store: (any ResultStore)? = nil
    var output: OutputWriter? = nil
    var databaseSinks: [DatabaseSink] = []
    var limiter: (any Limiter)? = nil
    var limitedStage = 0
    /// The engine's limiter named "fetch", when fetch.rate_limit is set.
    var fetchLimiter: (any Limiter)? = nil
    var budget: (any BudgetLedger)? = nil
    var sample: SampleSelection? = nil
    var knownCounts: [Int?]
    var stageLabels: [String]
    /// What stages prepared in this run, for the journal.
    var prepared: [PreparedResult] = []
    /// What this run's prepare calls cost: spent before any document.
    var preparedCost: Double { prepared.reduce(0) { $0 + $1.costUSD } }

    /// Starts the stages and opens the store and the output. `name` names
    /// the run's own rate limiter.
    static func make(_ config: BatchConfiguration, engine: Engine, seams: BatchSeams, name: String) throws -> RunParts {
        var config = config
        let prepareAgain: Set<String>
        (config.stages, prepareAgain) = try PreparedResults.split(config.stages)
        let options = config.options
        let sources = config.sources.applying(options)
        try config.sources.checkContent(limit: options.contentMaxSize)
        // Duplicate ids are refused before anything starts.
        var reader = config.sources.reader(of: sources)
        try reader.checkUniqueIds()
        let counts = sources.map(\.knownCount)
        let sample = try options.sample.map { try sampleSelection(size: $0, counts: counts) }
        var parts = RunParts(options: options,
                             queue: seams.queue ?? LocalWorkQueue(reader: reader, sample: sample, inOrder: options.sequential),
                             sample: sample, knownCounts: counts, stageLabels: config.stages.map(\.label))
        try parts.configureRateLimit(config, engine: engine, seams: seams, name: name)
        parts.fetchLimiter = try options.fetchRateLimit.map {
            try engine.limiter(named: "fetch", requests: $0, tokens: nil, burst: 1)
        }
        // Stages start before the store records the run: a stage that
        // refuses (say, an option holding what should have been a secret)
        // leaves nothing on disk.
        try parts.startStages(config.stages, engine: engine, prepareAgain: prepareAgain)
        do {
            try parts.openStoreAndOutput(config, seams: seams)
        } catch {
            parts.stages.reversed().forEach { $0.instance.stop() }
            parts.store?.close()
            throw error
        }
        return parts
    }

    private static func sampleSelection(size: Int, counts: [Int?]) throws -> SampleSelection {
        guard counts.allSatisfy({ $0 != nil }) else {
            throw BatchCoreError(.option, "sample needs to know how many documents there are before it starts, and paths on standard input are read only once: write them to a file and pass that file (a manifest or a list) instead")
        }
        return SampleSelection(size: size, of: counts.reduce(0) { $0 + $1! })
    }

    /// The engine's limiter this run draws from, and the stage it guards.
    private mutating func configureRateLimit(_ config: BatchConfiguration, engine: Engine, seams: BatchSeams, name: String) throws {
        guard seams.limiter != nil || options.rateLimit != nil || options.tokenLimit != nil else { return }
        if let label = options.limitedStage {
            guard let index = config.stages.firstIndex(where: { $0.label == label }) else {
                throw BatchCoreError(.option, "rate_limit.stage '\(label)' is not a stage; stages: "
                    + config.stages.map(\.label).joined(separator: ", "))
            }
            limitedStage = index
        } else {
            limitedStage = config.stages.count - 1
        }
        limiter = try seams.limiter ?? engine.limiter(named: options.limiterName ?? name, requests: options.rateLimit,
                                                      tokens: options.tokenLimit, burst: options.rateBurst)
    }

    /// Starts every stage. A resumed run hands each stage what its prepare
    /// made before (kept in the journal) unless it says `prepare_again`;
    /// what stages prepare now is kept once the journal is open.
    private mutating func startStages(_ specs: [StageSpec], engine: Engine, prepareAgain: Set<String>) throws {
        do {
            for spec in specs {
                let processor = try engine.processor(named: spec.processor)
                let stageConfig = StageConfig(label: spec.label, values: spec.options)
                try stageConfig.validate(against: processor.info)
                let kept = options.resume && !prepareAgain.contains(spec.label)
                    ? options.checkpoint.flatMap { PreparedResults.stored(in: $0, for: spec) } : nil
                if let kept { stageConfig.shared.restore(kept) }
                let instance = try Isolation.start(processor, config: stageConfig, options: options)
                let prices = options.explicitPrices ?? stageConfig.defaultPrices.withLock { $0 }
                if kept == nil, let made = stageConfig.shared.bytes {
                    let usage = stageConfig.prepareUsage.withLock { $0 }
                    prepared.append(PreparedResult(stage: spec.label, configuration: PreparedResults.configuration(of: spec),
                                                   shared: made, usage: usage,
                                                   costUSD: prices?.cost(input: usage.input, output: usage.output) ?? 0))
                }
                stages.append(RunningStage(label: spec.label, name: processor.info.name, instance: instance, prices: prices,
                                           nonBlocking: processor.info.nonBlocking && !(instance is IsolatedInstance)))
            }
        } catch {
            stages.reversed().forEach { $0.instance.stop() }
            throw error
        }
    }

    private mutating func openStoreAndOutput(_ config: BatchConfiguration, seams: BatchSeams) throws {
        let journal = seams.store == nil ? try Self.openJournal(config) : nil
        store = seams.store ?? journal
        try configureBudget(seams)
        output = try OutputRecovery.open(path: options.output, journal: journal, resuming: options.resume,
                                         retryFailed: options.retryFailed, overwrite: options.overwrite,
                                         groupLimit: ResultWriter.groupLimit(every: options.checkpointEvery))
        databaseSinks = try DatabaseSinks.open(options, journal: journal)
        try store?.beginRun()
        try journal?.keep(prepared)
    }

    /// Opens (or resumes) the journal when a checkpoint is set.
    private static func openJournal(_ config: BatchConfiguration) throws -> Journal? {
        let options = config.options
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
            inputs: config.sources.all.map(\.identity),
            dedupe: options.dedupe)
        return try Journal(path: path, configuration: run, resume: options.resume, force: options.forceResume,
                           output: options.output)
    }

    /// The budget, with what earlier runs of the store spent.
    private mutating func configureBudget(_ seams: BatchSeams) throws {
        guard let limit = options.budget else {
            budget = seams.budget
            return
        }
        guard stages.contains(where: { $0.prices != nil }) else {
            throw BatchCoreError(.option, "a budget needs prices: no stage knows what its tokens cost; set price.input and price.output (--price-input, --price-output) in US dollars per million tokens")
        }
        let before = store?.spentBefore ?? (cost: 0, documents: 0)
        budget = seams.budget ?? Budget(limit: limit, spent: before.cost + preparedCost, finished: before.documents)
    }
}
