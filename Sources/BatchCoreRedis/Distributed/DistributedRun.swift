import BatchCore

/// A worker's run of a distributed batch: the submitted plan on the worker's
/// engine, through the Redis seams.
public enum DistributedRun {
    /// The batch configured from `plan`; `workers` caps its share of the worker's slots.
    public static func batch(_ plan: BatchPlan, engine: Engine, workers: Int? = nil) throws -> Batch {
        let batch = Batch(engine: engine)
        for stage in plan.stages {
            try batch.addStage(processor: stage.processor, label: stage.label)
            for (key, value) in stage.options.sorted(by: { $0.key < $1.key }) { try batch.setStage(stage.label, key, value) }
        }
        // Results commit every 50 ms unless the plan says otherwise: a job
        // stays leased until its commit, and the batch ends with its last one.
        try batch.set("checkpoint.interval", "0.05")
        for pair in plan.options where pair.count == 2 { try batch.set(pair[0], pair[1]) }
        // A sink's writes are exactly once through a journal, which workers do
        // not keep; and its URL would travel through Redis with its password.
        guard batch.batchOptions.sinks.isEmpty else {
            throw BatchCoreError(.option, "sink: a distributed batch cannot write to a database sink (workers keep no journal to make its writes exactly once); collect the results with `batchhost collect` and load them from there")
        }
        if let workers { try batch.set("workers", String(workers)) }
        try batch.set("keep_results", "false")
        return batch
    }

    /// The Redis seams of one batch for this worker.
    public static func seams(for batch: Batch, record: RedisBatch, plan: BatchPlan, consumer: String, claimSize: Int,
                      pool: RedisConnectionPool, log: @escaping @Sendable (String) -> Void) -> BatchSeams {
        let options = batch.batchOptions
        let lease = Duration.milliseconds(plan.leaseMilliseconds)
        let acks = PendingAcks(queue: RedisWorkQueue(batch: record.id, lease: lease))
        let known = KnownResults()
        var seams = BatchSeams(
            queue: SharedWorkQueue(batch: record, lease: lease, claimSize: claimSize, consumer: consumer, pool: pool,
                                   acks: acks, known: known, log: log),
            store: SharedResultStore(batch: record, consumer: consumer, pool: pool, acks: acks, known: known))
        if options.rateLimit != nil || options.tokenLimit != nil {
            seams.limiter = SharedLimiter(name: options.limiterName ?? "batch:\(record.id)", requests: options.rateLimit,
                                          tokens: options.tokenLimit, burst: options.rateBurst, pool: pool, log: log)
        }
        if let limit = options.budget {
            seams.budget = SharedBudgetLedger(batch: record.id, limit: limit, lease: lease, pool: pool, log: log)
        }
        return seams
    }
}
