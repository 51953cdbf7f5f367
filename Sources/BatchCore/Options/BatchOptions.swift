/// The options of one batch. Defaults live here; parsing and help live in
/// `BatchOptions.table`, the one registry every front end uses.
public struct BatchOptions: Sendable, Equatable {
    public var workers = 10
    public var sequential = false
    public var output: String? = nil
    public var keepResults = true
    public var retryAttempts = 3
    public var retryBase = 1.0
    public var retryMax = 60.0
    public var retryJitter = true
    public var timeout: Double? = nil
    public var timeoutGrace = 2.0
    public var priceInput: Double? = nil
    public var priceOutput: Double? = nil
    public var budget: Double? = nil
    public var sample: Int? = nil
    public var progressInterval = 1.0
    public var checkpoint: String? = nil
    public var checkpointEvery = 500
    public var checkpointInterval = 0.25
    public var resume = false
    public var retryFailed = false
    public var forceResume = false
    public var overwrite = false
    public var dedupe = false
    public var shutdownGrace = 30.0
    public var isolation = Isolation.auto
    public var workerMaxDocuments: Int? = nil
    public var workerMemoryLimit: UInt64? = nil
    public var rateLimit: Rate? = nil
    public var tokenLimit: Rate? = nil
    public var rateBurst = 1
    public var limiterName: String? = nil
    public var limitedStage: String? = nil
    public var tenant = "default"
    /// Sets the engine-wide cap of `tenant` when the batch starts.
    public var tenantMaxWorkers: Int? = nil
    /// Largest in-memory document (content instead of a file).
    public var contentMaxSize = ContentLimit.defaultBytes
    public var sinks: [SinkURL] = []
    public var sinkBatchSize = 100
    public var sinkInterval = 1.0
    public var sinkMaxBacklog = 10_000
    public var sinkColumns: String? = nil
    public var fetchMemoryMax = 8 << 20
    public var fetchTimeout = 60.0
    public var fetchRateLimit: Rate? = nil
    public var s3PageSize = 1000

    public init() {}

    /// Prices the user set, for every stage; nil leaves each plugin's own.
    public var explicitPrices: TokenPrices? {
        guard priceInput != nil || priceOutput != nil else { return nil }
        return TokenPrices(input: priceInput ?? 0, output: priceOutput ?? 0)
    }

    /// Worker cap this batch asks for (sequential means one).
    public var requestedWorkers: Int { sequential ? 1 : workers }

    public static let maxWorkersLimit = 4096

    public static let table = OptionTable<BatchOptions>(kind: "batch", [
        OptionSpec("workers", default: "10",
                   "Documents processed at once by this batch (also capped by the engine's max_workers)") {
            $0.workers = try ValueParser.integer("workers", $1, in: 1...maxWorkersLimit)
        },
        OptionSpec("sequential", default: "false",
                   "One document at a time, in input order, retries included") {
            $0.sequential = try ValueParser.bool("sequential", $1)
        },
        OptionSpec("output", default: "",
                   "Write one JSON object per document to this file (JSON Lines); \"-\" for standard output, empty for none") {
            $0.output = $1.isEmpty ? nil : $1
        },
        OptionSpec("keep_results", default: "true",
                   "Keep every result in memory for bc_batch_results (turn off for huge batches)") {
            $0.keepResults = try ValueParser.bool("keep_results", $1)
        },
        OptionSpec("retry.attempts", default: "3",
                   "Attempts per document and stage, the first included; RETRY outcomes use them") {
            $0.retryAttempts = try ValueParser.integer("retry.attempts", $1, in: 1...100)
        },
        OptionSpec("retry.base", default: "1s",
                   "Backoff base: attempt n waits a random time in [0, base * 2^(n-1)]") {
            $0.retryBase = try ValueParser.duration("retry.base", $1, in: 0...86_400)
        },
        OptionSpec("retry.max", default: "60s",
                   "Longest backoff between two attempts") {
            $0.retryMax = try ValueParser.duration("retry.max", $1, in: 0...86_400)
        },
        OptionSpec("retry.jitter", default: "true",
                   "Randomise each backoff within [0, its ceiling]; false waits the full ceiling (predictable delays)") {
            $0.retryJitter = try ValueParser.bool("retry.jitter", $1)
        },
        OptionSpec("timeout", default: "",
                   "Longest time one attempt of one stage may take; then it is abandoned and retried. Empty for none") {
            $0.timeout = $1.isEmpty ? nil : try ValueParser.duration("timeout", $1, in: 0.001...86_400)
        },
        OptionSpec("timeout.grace", default: "2s",
                   "After a timeout, how long the call has to stop by itself (plugins see is_cancelled, commands get SIGTERM) before it is abandoned (SIGKILL)") {
            $0.timeoutGrace = try ValueParser.duration("timeout.grace", $1, in: 0...3600)
        },
        OptionSpec("price.input", default: "",
                   "US dollars per million input tokens (overrides the price a plugin knows for its model)") {
            $0.priceInput = $1.isEmpty ? nil : try ValueParser.number("price.input", $1, in: 0...1_000_000)
        },
        OptionSpec("price.output", default: "",
                   "US dollars per million output tokens") {
            $0.priceOutput = $1.isEmpty ? nil : try ValueParser.number("price.output", $1, in: 0...1_000_000)
        },
        OptionSpec("budget", default: "",
                   "Most US dollars to spend: dispatch stops before the next document would likely cross it. Empty for none") {
            $0.budget = $1.isEmpty ? nil : try ValueParser.number("budget", $1, in: 0...1e12)
        },
        OptionSpec("sample", default: "",
                   "Process this many documents spread evenly over the input, then stop (a projection for the whole input is in the stats)") {
            $0.sample = $1.isEmpty ? nil : try ValueParser.integer("sample", $1, in: 1...Int(Int32.max))
        },
        OptionSpec("progress.interval", default: "1s",
                   "Time between two progress events") {
            $0.progressInterval = try ValueParser.duration("progress.interval", $1, in: 0.01...3600)
        },
        OptionSpec("checkpoint", default: "",
                   "Journal file (SQLite) recording every finished document, so the run can be resumed; empty for none") {
            $0.checkpoint = $1.isEmpty ? nil : $1
        },
        OptionSpec("checkpoint.every", default: "500",
                   "Commit the journal after this many results (or checkpoint.interval, whichever comes first)") {
            $0.checkpointEvery = try ValueParser.integer("checkpoint.every", $1, in: 1...1_000_000)
        },
        OptionSpec("checkpoint.interval", default: "250ms",
                   "Commit the journal at least this often while results come in") {
            $0.checkpointInterval = try ValueParser.duration("checkpoint.interval", $1, in: 0.001...3600)
        },
        OptionSpec("resume", default: "false",
                   "Continue the run recorded in the checkpoint: finished documents are skipped, the rest run") {
            $0.resume = try ValueParser.bool("resume", $1)
        },
        OptionSpec("retry_failed", default: "false",
                   "When resuming, run the documents that failed again too") {
            $0.retryFailed = try ValueParser.bool("retry_failed", $1)
        },
        OptionSpec("force_resume", default: "false",
                   "Resume even if stages, their options or inputs differ from the journal's") {
            $0.forceResume = try ValueParser.bool("force_resume", $1)
        },
        OptionSpec("overwrite", default: "false",
                   "Replace an output file that already holds results the journal does not record (without it, such a file is refused)") {
            $0.overwrite = try ValueParser.bool("overwrite", $1)
        },
        OptionSpec("dedupe", default: "false",
                   "Reuse the result of a finished document with the same content (SHA-256) instead of processing again; needs a checkpoint") {
            $0.dedupe = try ValueParser.bool("dedupe", $1)
        },
        OptionSpec("rate_limit", default: "",
                   "Most calls per period to the limited stage, e.g. 50/min or 10/s, shared by every worker") {
            $0.rateLimit = $1.isEmpty ? nil : try Rate.parse("rate_limit", $1)
        },
        OptionSpec("token_limit", default: "",
                   "Most tokens per period through the limited stage, e.g. 40000/min (estimated before a call, corrected after)") {
            $0.tokenLimit = $1.isEmpty ? nil : try Rate.parse("token_limit", $1)
        },
        OptionSpec("rate_limit.burst", default: "1",
                   "Calls the rate limit lets through at once after a quiet spell") {
            $0.rateBurst = try ValueParser.integer("rate_limit.burst", $1, in: 1...100_000)
        },
        OptionSpec("rate_limit.name", default: "",
                   "Name of the limiter: batches of one engine that give the same name share it; empty for one of its own") {
            $0.limiterName = $1.isEmpty ? nil : $1
        },
        OptionSpec("tenant", default: "default",
                   "Who the batch runs for: the engine's stats add up documents and workers per tenant") {
            guard !$1.isEmpty else { throw BatchCoreError(.option, "tenant must not be empty") }
            $0.tenant = $1
        },
        OptionSpec("content.max_size", default: "16MiB",
                   "Largest document given by its content instead of a file (bc_batch_add_content, a manifest's content or content_base64), e.g. 64MiB") {
            $0.contentMaxSize = try ValueParser.byteSize("content.max_size", $1, in: 0...(1 << 31))
        },
        OptionSpec("tenant.max_workers", default: "",
                   "Cap on the workers of the batch's tenant over all its batches on the engine, set when the batch starts (the engine option tenant.max_workers NAME=N sets it too); empty leaves the engine's setting") {
            $0.tenantMaxWorkers = $1.isEmpty ? nil : try ValueParser.integer("tenant.max_workers", $1, in: 1...maxWorkersLimit)
        },
        OptionSpec("rate_limit.stage", default: "",
                   "Label of the stage the limit applies to; empty for the last stage") {
            $0.limitedStage = $1.isEmpty ? nil : $1
        },
        OptionSpec("shutdown.grace", default: "30s",
                   "After a graceful cancel, how long documents in flight may take before they are asked to stop") {
            $0.shutdownGrace = try ValueParser.duration("shutdown.grace", $1, in: 0...86_400)
        },
        OptionSpec("isolation", default: "auto",
                   "Where processors run: thread (in this process), process (a worker process per worker thread, so a crash, hang or leak costs one document, not the batch) or auto (process for plugins that read hostile documents, such as pdf and ocr; thread for the rest)") {
            guard let mode = Isolation(rawValue: $1.trimmingSpaces.lowercased()) else {
                throw ValueParser.invalid("isolation", $1, "thread, process or auto")
            }
            $0.isolation = mode
        },
        OptionSpec("worker.max_documents", default: "",
                   "With isolation=process: replace a worker process after it processed this many documents (contains leaks). Empty for never") {
            $0.workerMaxDocuments = $1.isEmpty ? nil : try ValueParser.integer("worker.max_documents", $1, in: 1...Int(Int32.max))
        },
        OptionSpec("worker.memory_limit", default: "",
                   "With isolation=process: most address space per worker process (RLIMIT_AS), e.g. 512MB or 2GiB. Empty for no limit") {
            $0.workerMemoryLimit = $1.isEmpty ? nil : UInt64(try ValueParser.byteSize("worker.memory_limit", $1, in: (16 << 20)...(1 << 50)))
        },
        OptionSpec("sink", default: "",
                   "Also write every result into a database table, exactly once with the journal: sqlite:///path/to.db?table=results or postgresql://user@host:port/db?table=results (repeatable: each setting adds a sink; empty removes them)") {
            if $1.isEmpty { $0.sinks = [] } else { $0.sinks.append(try SinkURL.parse($1)) }
        },
        OptionSpec("sink.batch_size", default: "100",
                   "Rows a sink writes per transaction") {
            $0.sinkBatchSize = try ValueParser.integer("sink.batch_size", $1, in: 1...10_000)
        },
        OptionSpec("sink.interval", default: "1s",
                   "Longest time a finished result waits before a sink writes a smaller batch") {
            $0.sinkInterval = try ValueParser.duration("sink.interval", $1, in: 0.001...3600)
        },
        OptionSpec("sink.max_backlog", default: "10000",
                   "Results that may wait for a sink's database (down or slow) before processing waits too") {
            $0.sinkMaxBacklog = try ValueParser.integer("sink.max_backlog", $1, in: 1...10_000_000)
        },
        OptionSpec("sink.columns", default: "",
                   "Instead of the standard columns, fields of the JSON output as typed columns: NAME[:text|integer|real|boolean|json]=$.field.field,… (a missing field is NULL)") {
            $0.sinkColumns = $1.isEmpty ? nil : $1
            _ = try $0.sinkColumns.map(SinkColumns.mapped)
        },
        OptionSpec("fetch.memory_max", default: "8MiB",
                   "A remote input (http://, https://, s3://) up to this size is fetched into memory; a larger one into a temporary file, removed when the document is done") {
            $0.fetchMemoryMax = try ValueParser.byteSize("fetch.memory_max", $1, in: 0...(1 << 31))
        },
        OptionSpec("fetch.timeout", default: "60s",
                   "Longest time fetching one remote input may take; then it is retried like a failed attempt") {
            $0.fetchTimeout = try ValueParser.duration("fetch.timeout", $1, in: 0.001...86_400)
        },
        OptionSpec("fetch.rate_limit", default: "",
                   "Most fetches of remote inputs per period, e.g. 100/s, shared by every worker and by the engine's batches (the limiter named 'fetch'); empty for none") {
            $0.fetchRateLimit = $1.isEmpty ? nil : try Rate.parse("fetch.rate_limit", $1)
        },
        OptionSpec("s3.page_size", default: "1000",
                   "Keys per ListObjectsV2 request when an s3://bucket/prefix/ input is listed") {
            $0.s3PageSize = try ValueParser.integer("s3.page_size", $1, in: 1...1000)
        },
    ])

    public mutating func set(_ key: String, _ value: String) throws {
        try Self.table.set(key, value, on: &self)
    }
}
