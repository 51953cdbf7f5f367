import BatchCore

/// A distributed batch's jobs as the engine's `WorkQueue`: claimed several at
/// a time from the batch's stream (jobs whose lease expired first), leases
/// renewed by the run's `LeaseKeeper`, jobs given back held in the delayed
/// ZSET on the server, not in this process. The queue is drained once the
/// batch is finished, paused or cancelled (the state is read with each
/// upkeep, so claims stop within `upkeepInterval` even while jobs wait);
/// until then an empty claim waits a little and asks again, since a job
/// another worker holds may come back.
public final class SharedWorkQueue: WorkQueue {
    public let claimSize: Int
    public let leaseRenewal: Double?
    private let queue: RedisWorkQueue
    private let batch: RedisBatch
    private let pool: RedisConnectionPool
    private let consumer: String
    private let acks: PendingAcks
    private let known: KnownResults
    private let log: @Sendable (String) -> Void
    /// Lease number → stream entry, for the jobs this process holds.
    private let entries = Locked(Entries())
    /// Set when the worker stops: claims end at once, without asking the server.
    private let closed = Locked(false)
    private let waits = RateLimitWaits()
    /// When an empty claim asks again.
    private static let idlePoll: UInt64 = 100_000_000
    /// When the next claim moves due retries to the stream and looks for
    /// expired leases first (monotonic ns): at most every `upkeepInterval`,
    /// not on every claim, which would cost two more round trips each.
    private let nextUpkeep = Locked<UInt64>(0)
    private static let upkeepInterval: UInt64 = 100_000_000

    private struct Entries {
        var next: UInt64 = 0
        var byLease: [UInt64: String] = [:]
    }

    /// `acks` holds finished jobs until the result store commits their results;
    /// `known` tells the store which claimed documents have results already.
    public init(batch: RedisBatch, lease: Duration, claimSize: Int, consumer: String, pool: RedisConnectionPool,
                acks: PendingAcks, known: KnownResults, log: @escaping @Sendable (String) -> Void) {
        self.acks = acks
        self.known = known
        self.batch = batch
        queue = RedisWorkQueue(batch: batch.id, lease: lease)
        self.claimSize = max(1, claimSize)
        leaseRenewal = Double(lease.wholeMilliseconds) / 3000
        self.consumer = consumer
        self.pool = pool
        self.log = log
    }

    /// Claims nothing more: the worker is stopping (even with the server
    /// unreachable). Jobs held for the rate limit go back to Redis for others.
    public func close() {
        closed.withLock { $0 = true }
        for job in waits.takeAll() { sendBack(job, notBefore: monotonicNanos()) }
    }

    public func claim(upTo count: Int, now: UInt64) -> Claim {
        if closed.withLock({ $0 }) { return .drained }
        let (due, holdUntil) = waits.take(upTo: count, now: now)
        if !due.isEmpty { return .jobs(due) }
        if let holdUntil { return .wait(until: holdUntil) }
        do {
            let (claimed, over) = try pool.with { c -> ([ClaimedJob], Bool) in
                let upkeep = upkeepDue(now)
                if upkeep {
                    if try batch.state(on: c)?.stopsClaims ?? true { return ([], true) }
                    try queue.moveDue(limit: max(count, 100), on: c)
                }
                let claimed = try queue.claim(upTo: count, consumer: consumer, expiredFirst: upkeep, on: c).map(leased)
                try known.learn(about: claimed.map(\.job), results: RedisResults(batch: batch.id), on: c)
                return (claimed, claimed.isEmpty ? try isOver(on: c) : false)
            }
            if over {
                close()  // jobs held for the rate limit go back for when it opens again
                return .drained
            }
            if claimed.isEmpty { return .wait(until: now + Self.idlePoll) }
            return .jobs(claimed)
        } catch {
            log("batch \(batch.id): claiming jobs failed: \(error); trying again in a second")
            return .wait(until: now + 1_000_000_000)
        }
    }

    /// True for one claim every `upkeepInterval`.
    private func upkeepDue(_ now: UInt64) -> Bool {
        nextUpkeep.withLock { next in
            guard now >= next else { return false }
            next = now + Self.upkeepInterval
            return true
        }
    }

    /// Finished (every submitted document committed), paused or cancelled;
    /// a batch found finished is marked so.
    private func isOver(on connection: RedisConnection) throws -> Bool {
        switch try batch.finishIfComplete(on: connection) {
        case .open, .submitting: false
        case .paused, .finished, .cancelled, nil: true
        }
    }

    private func leased(_ claimed: RedisWorkQueue.Claimed) throws -> ClaimedJob {
        let job = try JobCodec.decode(claimed.job)
        let lease = entries.withLock { e in
            e.next += 1
            e.byLease[e.next] = claimed.entry
            return e.next
        }
        // A job no attempt has started: it may still have a result, committed by
        // a worker that died before acknowledging it.
        return ClaimedJob(job: job, lease: lease, isNew: job.attempts == 0)
    }

    public func acknowledge(_ job: ClaimedJob) {
        guard let entry = release(job.lease) else { return }
        let now = acks.finished(job.job.document.id, entry: entry)
        guard !now.isEmpty else { return }
        do {
            try pool.with { try acks.ack(now, on: $0) }
        } catch {
            // Its lease expires and another worker finds its result committed.
            log("batch \(batch.id): acknowledging '\(job.job.document.id)' failed: \(error)")
        }
    }

    public func giveBack(_ job: ClaimedJob, notBefore: UInt64) {
        if job.job.waitingFor == .rateLimit && !closed.withLock({ $0 }) {
            return waits.hold(job, until: notBefore)
        }
        sendBack(job, notBefore: notBefore)
    }

    /// Acknowledges the job and schedules it in Redis' delayed ZSET, for any worker.
    private func sendBack(_ job: ClaimedJob, notBefore: UInt64) {
        guard let entry = release(job.lease) else { return }
        let now = monotonicNanos()
        let delay = Duration.nanoseconds(notBefore > now ? notBefore - now : 0)
        let claimed = RedisWorkQueue.Claimed(entry: entry, job: JobCodec.encode(job.job))
        do {
            _ = try pool.with { try queue.giveBack(claimed, consumer: consumer, after: delay, on: $0) }
        } catch {
            // Its lease expires and it runs again, from its last state on the stream.
            log("batch \(batch.id): giving back '\(job.job.document.id)' failed: \(error)")
        }
    }

    /// Renews the running jobs' leases and those of the jobs held for the rate limit.
    public func renew(_ jobs: [ClaimedJob]) -> [ClaimedJob] {
        let held = entries.withLock { e in (jobs + waits.jobs).compactMap { job in e.byLease[job.lease].map { (job, $0) } } }
        do {
            let kept = Set(try pool.with { try queue.renew(held.map(\.1), consumer: consumer, on: $0) })
            let lost = held.filter { !kept.contains($0.1) }
            entries.withLock { e in for (job, _) in lost { e.byLease[job.lease] = nil } }
            waits.drop(leases: Set(lost.map(\.0.lease)))
            let running = Set(jobs.map(\.lease))
            return held.filter { kept.contains($0.1) && running.contains($0.0.lease) }.map(\.0)
        } catch {
            log("batch \(batch.id): renewing leases failed: \(error)")
            return jobs
        }
    }

    private func release(_ lease: UInt64) -> String? {
        entries.withLock { $0.byLease.removeValue(forKey: lease) }
    }
}
