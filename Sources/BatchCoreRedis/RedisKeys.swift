/// Every key batchcore keeps in Redis, in one place (docs/redis.md shows the layout).
/// All start with `batchcore:`; a batch's keys carry its id, a limiter's its name.
public struct RedisKeys: Sendable, Equatable {
    public static let prefix = "batchcore"

    public let batch: String

    public init(batch: String) { self.batch = batch }

    private var base: String { "\(Self.prefix):batch:\(batch)" }

    /// Stream of jobs waiting or leased, read by the consumer group `RedisWorkQueue.group`.
    public var jobs: String { "\(base):jobs" }
    /// ZSET of jobs given back for a later retry, scored by their due time (ms, server clock).
    public var delayed: String { "\(base):delayed" }
    /// Hash: document id → encoded result, written once (first commit wins).
    public var results: String { "\(base):results" }
    /// Hash: status → number of committed results with it.
    public var counts: String { "\(base):counts" }
    /// Hash: content hash → the first result committed for that content.
    public var contentResults: String { "\(base):content" }
    /// Hashes of the failures (`RedisFailures`): group (stage and error) → count,
    /// group → a JSON array of example ids, failed id → its group; and a ZSET
    /// of the failed ids (every score 0), to page through them in id order.
    public var failureGroups: String { "\(base):failures" }
    public var failureExamples: String { "\(base):failures:examples" }
    public var failedIds: String { "\(base):failures:ids" }
    public var failedOrder: String { "\(base):failures:order" }
    /// Hash with the budget's `spent` and `reserved` amounts.
    public var budget: String { "\(base):budget" }
    /// ZSET: reservation id → lease expiry (ms, server clock).
    public var budgetLeases: String { "\(base):budget:leases" }
    /// Hash: reservation id → amount held, or `settled` once committed.
    public var budgetReservations: String { "\(base):budget:reservations" }

    /// Hash: the batch's `plan` (stages and options), `state`, `total`, `tenant`,
    /// `created` (ms), `lease` (ms) and `cost` (US dollars committed).
    public var meta: String { "\(base):meta" }
    /// Hashes keyed by worker (consumer name): documents committed, last heartbeat (ms), run state.
    public var workersDone: String { "\(base):workers:done" }
    public var workersSeen: String { "\(base):workers:seen" }
    public var workersState: String { "\(base):workers:state" }
    /// ZSETs of document ids, every score 0, so they page in id order: every
    /// document submitted, and those without a result yet.
    public var documents: String { "\(base):documents" }
    public var unfinished: String { "\(base):unfinished" }
    /// Hash: document id → its attempt history (`RedisAttempts`), for those that failed or took more than one.
    public var attempts: String { "\(base):attempts" }
    /// Hash: second (unix time) → documents committed in it, for the rate over the last minute.
    public var ticks: String { "\(base):ticks" }

    /// Every key of the batch, for expiry once it is collected.
    public var all: [String] {
        [jobs, delayed, results, counts, contentResults, budget, budgetLeases, budgetReservations,
         meta, documents, unfinished, attempts, workersDone, workersSeen, workersState, ticks,
         failureGroups, failureExamples, failedIds, failedOrder]
    }

    /// ZSET of every batch id, scored by its creation time (ms).
    public static let batches = "\(prefix):batches"
    /// Set of the ids of batches workers serve (submitted, not finished or cancelled).
    public static let open = "\(prefix):open"

    /// A named limiter's keys; limiters are shared by every batch that names them.
    public struct Limiter: Sendable, Equatable {
        public let name: String
        private var base: String { "\(RedisKeys.prefix):limiter:\(name)" }
        /// GCRA's theoretical arrival time of the next request (ms, server clock).
        public var requests: String { "\(base):requests" }
        /// Hash: `tokens` left and the time `at` they were counted (ms, server clock).
        public var tokens: String { "\(base):tokens" }
        /// Paused until this time (ms, server clock), after a Retry-After.
        public var pausedUntil: String { "\(base):paused" }
    }

    public static func limiter(_ name: String) -> Limiter { Limiter(name: name) }
}
