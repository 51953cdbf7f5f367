import BatchCore
import BatchCoreRedis
import Glibc

/// `submit --wait`: a progress line on standard error until the batch is
/// finished or cancelled.
struct BatchWatch {
    let batch: RedisBatch
    let pool: RedisConnectionPool
    let quiet: Bool

    /// Waits; returns how many documents failed.
    func untilDone() throws -> Int {
        var last = ""
        while true {
            let summary = try redisCall { try pool.with { try BatchSummary.read(batch, on: $0) } }
            let line = summary.progressLine
            if !quiet && line != last {
                writeStandardError("batchhost: \(line)\n")
                last = line
            }
            if summary.state == .finished || summary.state == .cancelled { return summary.count("failed") }
            sleepSeconds(0.5)
        }
    }
}
