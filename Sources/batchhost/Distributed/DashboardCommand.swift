import ArgumentParser
import BatchCore
import BatchCoreRedis

struct DashboardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard",
        abstract: "Serve the status of every distributed batch on a Redis server over HTTP, until SIGTERM or SIGINT.",
        discussion: """
        The page, /api/status and /metrics of `run --http`, for all batches in \
        Redis, with the workers serving each. With --http-token, cancel, \
        pause, resume and retry-failed are operator actions (POST with the \
        token, batch=ID).
        """)

    @OptionGroup var redis: RedisFlags

    @Option(name: .customLong("http"), help: ArgumentHelp("Serve at [HOST:]PORT (127.0.0.1 unless a host is given; port 0 picks one).", valueName: "address"))
    var http: String

    @Option(name: .customLong("http-token"), help: ArgumentHelp("Allow operator actions (cancel, pause, resume, retry failed documents) to whoever sends this token; off loopback, every request needs it.", valueName: "token"))
    var httpToken: String?

    @Option(name: .customLong("worker-expiry"), help: ArgumentHelp("Leave out workers not seen for this many seconds.", valueName: "seconds"))
    var workerExpiry: Double = 30

    func validate() throws {
        guard workerExpiry > 0 else { throw ValidationError("--worker-expiry \(workerExpiry): expected a number of seconds above 0") }
    }

    func run() throws {
        Diagnostics.setProgramName("batchhost")
        let stop = Locked(false)
        SignalWatcher.start { _ in stop.withLock { $0 = true } }
        let source = RedisStatusSource(pool: try redis.connect(), workerExpiry: workerExpiry)
        let server = try StatusServer(address: http, token: httpToken, source: source,
                                      scrubber: SecretScrubber(arguments: CommandLine.arguments))
        while !stop.withLock({ $0 }) { sleepSeconds(0.25) }
        server.stop()
    }
}
