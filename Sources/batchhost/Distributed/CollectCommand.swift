import ArgumentParser
import BatchCore
import BatchCoreRedis

struct CollectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collect",
        abstract: "Write a distributed batch's results: one JSON Lines line per document, as `run` writes them.",
        discussion: "Once a finished batch is collected, its keys in Redis expire after --ttl.")

    @OptionGroup var redis: RedisFlags

    @Argument(help: "The batch id `submit` printed.")
    var batch: String

    @Option(name: [.short, .long], help: ArgumentHelp("Write here (default: standard output).", valueName: "file"))
    var output: String?

    @Flag(help: "Only the failed documents.")
    var failed = false

    @Option(help: ArgumentHelp("Seconds a finished batch stays in Redis once collected.", valueName: "seconds"))
    var ttl: Int = 7 * 24 * 3600

    func run() throws {
        let pool = try redis.connect()
        let record = RedisBatch(id: batch)
        let state = try redisCall { try pool.with { c -> RedisBatch.State? in
            guard try record.exists(on: c) else { return nil }
            return try record.state(on: c)
        } }
        guard let state else {
            throw BatchCoreError(.notFound, "no batch '\(batch)' in Redis at \(pool.url): `batchhost status --redis URL` lists the batches there")
        }
        try ResultCollection(batch: record, pool: pool).write(to: output, onlyFailed: failed)
        if state == .finished || state == .cancelled {
            try redisCall { try pool.with { try record.expire(after: ttl, on: $0) } }
        }
    }
}
