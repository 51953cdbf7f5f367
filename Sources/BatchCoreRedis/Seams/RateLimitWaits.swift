import BatchCore

/// Jobs the engine gave back to wait for the rate limit, held by this worker
/// (still leased to it) instead of going back to Redis; until the wait is
/// over the queue hands out nothing new, as the local queue does. Sent to
/// Redis, the waiting jobs of every worker would come back due at the same
/// instant and all but one would wait again, each wait costing round trips:
/// the limit would go mostly unused.
final class RateLimitWaits: Sendable {
    private struct Held {
        var jobs: [(due: UInt64, job: ClaimedJob)] = []
        var until: UInt64 = 0
    }

    private let held = Locked(Held())

    func hold(_ job: ClaimedJob, until due: UInt64) {
        held.withLock { h in
            h.jobs.append((due, job))
            h.until = max(h.until, due)
        }
    }

    /// Up to `count` held jobs that are due; and, when none is, until when
    /// the queue should hand out nothing (nil: no wait under way).
    func take(upTo count: Int, now: UInt64) -> (jobs: [ClaimedJob], holdUntil: UInt64?) {
        held.withLock { h in
            var taken: [ClaimedJob] = []
            h.jobs.removeAll { entry in
                guard taken.count < count, entry.due <= now else { return false }
                taken.append(entry.job)
                return true
            }
            return (taken, h.until > now ? h.until : nil)
        }
    }

    /// The jobs held now (their leases are renewed with the running ones).
    var jobs: [ClaimedJob] { held.withLock { $0.jobs.map(\.job) } }

    /// Forgets held jobs whose lease another worker took over.
    func drop(leases: Set<UInt64>) {
        held.withLock { $0.jobs.removeAll { leases.contains($0.job.lease) } }
    }

    /// Every held job, no longer held.
    func takeAll() -> [ClaimedJob] {
        held.withLock { h in
            defer { h = Held() }
            return h.jobs.map(\.job)
        }
    }
}
