import ArgumentParser
import BatchCore
import BatchCoreRedis
import Glibc

struct SubmitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Put a batch on a Redis server for `batchhost worker` processes on any machine to run.",
        discussion: """
        Checks the batch as `run` does (processors exist here, options valid, \
        inputs readable, every id given once), writes its plan and its documents \
        to Redis, and prints the batch id; workers serve it from then on. Documents are paths: every worker must be able to read them \
        (shared storage). Rate and token limits and the budget are shared by every \
        worker. With --wait, shows progress and writes the results at the end.

        Exit codes: 0 submitted (with --wait: every document ok or partial), \
        1 with --wait, some documents failed, 2 usage, configuration or Redis error.
        """)

    @OptionGroup var redis: RedisFlags
    @OptionGroup var definition: BatchDefinition

    @Argument(help: "Files, directories, or - for paths on standard input.")
    var inputs: [String] = []

    @Option(help: ArgumentHelp("Only files matching this pattern in directories.", valueName: "pattern"))
    var glob: String?

    @Option(help: ArgumentHelp("A manifest: .jsonl or .json array of {\"id\",\"path\",\"metadata\"} (repeatable).", valueName: "file"))
    var manifest: [String] = []

    @Option(name: .customLong("list"), help: ArgumentHelp("A file of newline-separated paths (repeatable).", valueName: "file"))
    var lists: [String] = []

    @Option(name: .customLong("plugin-dir"), help: ArgumentHelp("Also look for plugins here to check the stages (repeatable).", valueName: "dir"))
    var pluginDirs: [String] = []

    @Flag(help: "Wait for the batch to finish, showing progress, then write its results (-o).")
    var wait = false

    @Option(name: [.short, .long], help: ArgumentHelp("With --wait: write the results here (default: standard output).", valueName: "file"))
    var output: String?

    @Flag(name: [.short, .long], help: "Print nothing but errors (and the batch id).")
    var quiet = false

    @Argument(parsing: .postTerminator, help: ArgumentHelp("A command run per document, after --.", valueName: "command"))
    var command: [String] = []

    func run() throws {
        Diagnostics.setProgramName("batchhost")
        let engine = Engine()
        for dir in pluginDirs { try engine.set("plugin_dir", dir) }
        let plan = try definition.plan(command: command, engine: engine)
        let sources = try DocumentInputs(inputs: inputs, glob: glob, manifests: manifest, lists: lists).sources()
        let pool = try redis.connect()
        let (id, total) = try BatchSubmission(plan: plan, sources: sources).submit(to: pool)
        let record = RedisBatch(id: id)
        print(record.id)
        fflush(nil)
        guard wait else {
            if !quiet { writeStandardError("batchhost: submitted \(total) documents as batch \(record.id) to \(pool.url)\n") }
            return
        }
        let failed = try BatchWatch(batch: record, pool: pool, quiet: quiet).untilDone()
        try ResultCollection(batch: record, pool: pool).write(to: output, onlyFailed: false)
        throw ExitCode(failed > 0 ? Exit.documentsFailed.rawValue : Exit.ok.rawValue)
    }
}
