import BatchCore

/// What `status` shows of a distributed batch, read in one pipeline.
public struct BatchSummary: Sendable {
    public struct Worker: Sendable {
        public let name: String
        public let done: Int
        public let secondsSinceSeen: Double?
        public let state: String
    }

    public let id: String
    public let state: RedisBatch.State?
    public let tenant: String
    public let total: Int?
    public let counts: [String: Int]
    public let inFlight: Int
    public let retryWaiting: Int
    public let costUSD: Double
    public let perMinute: Double
    public let workers: [Worker]

    public var committed: Int { counts.values.reduce(0, +) }
    public func count(_ status: String) -> Int { counts[status] ?? 0 }

    public var etaSeconds: Double? {
        guard let total, perMinute > 0, state == .open else { return nil }
        return Double(max(0, total - committed)) / perMinute * 60
    }

    public static func read(_ batch: RedisBatch, on connection: RedisConnection) throws -> BatchSummary {
        let k = batch.keys
        let r = try connection.pipeline([
            ["HMGET", k.meta, "state", "tenant", "total", "cost"], ["HGETALL", k.counts],
            ["XPENDING", k.jobs, RedisWorkQueue.group], ["ZCARD", k.delayed], ["HGETALL", k.ticks],
            ["HGETALL", k.workersDone], ["HGETALL", k.workersSeen], ["HGETALL", k.workersState],
        ])
        if let failure = r.first(where: { $0.isError && !"\($0)".contains("NOGROUP") }) {
            throw RedisError(.server, "redis: reading batch \(batch.id): \(failure)")
        }
        let meta = r[0].array ?? []
        guard meta.first?.string != nil else {
            throw BatchCoreError(.notFound, "no batch '\(batch.id)' in Redis at \(connection.url): `batchhost status --redis URL` lists the batches there")
        }
        let now = wallSeconds()
        let ticks = r[4].fields.compactMap { second, count in Double(second).map { ($0, Int(count) ?? 0) } }
        let lastMinute = ticks.filter { $0.0 >= now - 60 }.map(\.1).reduce(0, +)
        let done = r[5].fields, seen = r[6].fields, states = r[7].fields
        let workers = Set(done.keys).union(seen.keys).sorted().map { name in
            Worker(name: name, done: Int(done[name] ?? "") ?? 0,
                   secondsSinceSeen: Double(seen[name] ?? "").map { now - $0 / 1000 }, state: states[name] ?? "")
        }
        return BatchSummary(
            id: batch.id, state: meta[0].string.flatMap(RedisBatch.State.init), tenant: meta[1].string ?? "default",
            total: meta[2].integer.map(Int.init), counts: r[1].fields.compactMapValues { Int($0) },
            inFlight: Int(r[2].array?.first?.integer ?? 0), retryWaiting: Int(r[3].integer ?? 0),
            costUSD: Double(meta[3].string ?? "") ?? 0, perMinute: Double(lastMinute), workers: workers)
    }

    public var json: JSONValue {
        .object([
            "id": .string(id), "state": .string(state?.rawValue ?? "unknown"), "tenant": .string(tenant),
            "total": total.map { .number(Double($0)) } ?? .null,
            "ok": .number(Double(count("ok"))), "partial": .number(Double(count("partial"))),
            "failed": .number(Double(count("failed"))), "skipped": .number(Double(count("skipped"))),
            "in_flight": .number(Double(inFlight)), "retry_waiting": .number(Double(retryWaiting)),
            "docs_per_minute": .number(perMinute), "eta_seconds": etaSeconds.map { .number($0) } ?? .null,
            "cost_usd": .number(costUSD),
            "workers": .array(workers.map { w in
                .object(["name": .string(w.name), "done": .number(Double(w.done)), "state": .string(w.state),
                         "seconds_since_seen": w.secondsSinceSeen.map { .number($0) } ?? .null])
            }),
        ])
    }
}
