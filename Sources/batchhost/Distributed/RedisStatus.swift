import BatchCore
import BatchCoreRedis

/// `status --redis URL [BATCH]`: one batch in detail, or every batch in a line each.
struct RedisStatus {
    let pool: RedisConnectionPool

    func show(batch id: String?, json: Bool) throws {
        let summaries = try redisCall {
            try pool.with { c in
                try (id.map { [$0] } ?? RedisBatch.all(on: c)).map { try BatchSummary.read(RedisBatch(id: $0), on: c) }
            }
        }
        if json {
            print((id == nil ? .array(summaries.map(\.json)) : summaries[0].json).text)
        } else if id == nil {
            if summaries.isEmpty { print("no batches in Redis at \(pool.url)") }
            for s in summaries { print("\(s.id) [\(s.tenant)] \(s.progressLine)") }
        } else {
            detail(summaries[0])
        }
    }

    private func detail(_ s: BatchSummary) {
        print("batch:      \(s.id) (tenant \(s.tenant))")
        print("progress:   \(s.progressLine)")
        for w in s.workers {
            let seen = w.secondsSinceSeen.map { "seen \(format($0, digits: 0)) s ago" } ?? "never seen"
            print("worker:     \(w.name): \(w.done) committed, \(w.state), \(seen)")
        }
    }
}
