import ArgumentParser
import BatchCore
import BatchCoreRedis
import Glibc

/// `--redis URL` (or BATCHCORE_REDIS): the server a distributed batch lives on.
struct RedisFlags: ParsableArguments {
    @Option(name: .customLong("redis"), help: ArgumentHelp("The Redis server: redis://[user:password@]host[:port][/db] (default: $BATCHCORE_REDIS).", valueName: "url"))
    var url: String?

    static let environment = "BATCHCORE_REDIS"

    /// True when a server was named, by flag or environment.
    var isGiven: Bool { url != nil || getenv(Self.environment) != nil }

    /// Connections to the server, checked now: a bad URL, a refused connection
    /// or wrong credentials end the command with exit 2 and the reason.
    func connect(report: @escaping @Sendable (String) -> Void = { writeStandardError("batchhost: \($0)\n") }) throws -> RedisConnectionPool {
        guard let text = url ?? getenv(Self.environment).map({ String(cString: $0) }) else {
            throw BatchCoreError(.invalidArgument, "no Redis server: give one with --redis URL or set \(Self.environment)")
        }
        return try redisCall { try RedisConnectionPool(try RedisURL(text), report: report) }
    }
}
