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
    public var progressInterval = 1.0

    public init() {}

    /// Worker cap this batch asks for (sequential means one).
    public var requestedWorkers: Int { sequential ? 1 : workers }

    public static let maxWorkersLimit = 4096

    public static let table = OptionTable<BatchOptions>(kind: "batch", [
        OptionSpec("workers", default: "10",
                   "Documents processed at once by this batch (also capped by the engine's max_workers)") {
            $0.workers = try ValueParser.integer("workers", $1, in: 1...maxWorkersLimit)
        },
        OptionSpec("sequential", default: "false",
                   "One worker, documents in input order") {
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
        OptionSpec("progress.interval", default: "1s",
                   "Time between two progress events") {
            $0.progressInterval = try ValueParser.duration("progress.interval", $1, in: 0.01...3600)
        },
    ])

    public mutating func set(_ key: String, _ value: String) throws {
        try Self.table.set(key, value, on: &self)
    }
}
