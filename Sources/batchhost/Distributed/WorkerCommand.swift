import ArgumentParser
import BatchCore
import BatchCoreRedis
import Glibc

struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Serve every open distributed batch on a Redis server, until SIGTERM or SIGINT.",
        discussion: """
        Run any number of workers on any number of machines. Processors come \
        from this worker's plugin path and environment; a batch whose processor \
        is missing here is left to other workers. On SIGTERM or SIGINT the worker \
        finishes the documents it holds (a second signal hands them back) and exits 0.
        """)

    @OptionGroup var redis: RedisFlags

    @Option(name: [.short, .long], help: ArgumentHelp("Worker threads of this process, shared by the batches it serves.", valueName: "n"))
    var workers: Int = 10

    @Option(name: .customLong("plugin-dir"), help: ArgumentHelp("Also look for plugins here (repeatable).", valueName: "dir"))
    var pluginDirs: [String] = []

    @Option(help: ArgumentHelp("Serve only the batches of this tenant.", valueName: "name"))
    var tenant: String?

    @Option(name: .customLong("http"), help: ArgumentHelp("Serve this worker's /metrics and /api/status (the batches it runs) at [HOST:]PORT.", valueName: "address"))
    var http: String?

    @Flag(name: [.short, .long], help: "Print nothing but errors.")
    var quiet = false

    func validate() throws {
        guard (1...BatchOptions.maxWorkersLimit).contains(workers) else {
            throw ValidationError("--workers \(workers): expected 1 to \(BatchOptions.maxWorkersLimit)")
        }
    }

    func run() throws {
        Diagnostics.setProgramName("batchhost")
        let pool = try redis.connect()
        // Signals are blocked in the threads started after this, the engine's included.
        let stop = StopRequest(pool: pool)
        SignalWatcher.start { count in stop.request(hard: count > 1) }
        let engine = Engine()
        for dir in pluginDirs { try engine.set("plugin_dir", dir) }
        try engine.set("max_workers", String(workers))
        let server = BatchServer(engine: engine, pool: pool, workers: workers, tenant: tenant, quiet: quiet,
                                 stopRequest: stop, report: { writeStandardError("batchhost: \($0)\n") })
        let statusServer = try http.map {
            try StatusServer(address: $0, token: nil, source: WorkerStatusSource(server: server),
                             scrubber: SecretScrubber(arguments: CommandLine.arguments))
        }
        defer { statusServer?.stop() }
        server.serve()
        engine.shutdown()
    }
}
