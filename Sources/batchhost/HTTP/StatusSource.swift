import BatchCore

/// Where the HTTP server reads what it shows. A run on this machine is one
/// source (`LocalRunStatus`); a shared store of distributed batches can be another.
protocol StatusSource: Sendable {
    /// Every batch the source knows, as it is now.
    func batches() throws -> [BatchStatus]
    /// A page of documents of the batch named `batch` (nil: the only one), in
    /// id order: those `status` names (nil: all), with `filter`'s stage, text and place.
    func documents(_ filter: JournalReader.DocumentFilter, status: ListedStatus?, batch: String?) throws -> [ListedDocument]
    /// One finished document (its last attempt) and each of its calls, or nil.
    func document(id: String, batch: String?) throws -> (DocumentResult, [AttemptRecord])?
    // Operator actions on the batch named `batch` (nil: the only one); each
    // throws why it cannot (`.notFound`, `.invalidArgument`, else a conflict).
    /// Stops starting documents (those in flight finish).
    func cancel(batch: String?) throws
    /// Pauses or resumes starting documents.
    func setPaused(_ paused: Bool, batch: String?) throws
    /// Runs failed documents again; says what it did.
    func retry(_ selection: RetrySelection, batch: String?) throws -> RetryAnswer
}

/// Which documents `/api/documents` lists: those that ended with a status,
/// `done` (ok, partial or skipped), or, in a distributed batch, those not
/// finished: `pending` (waiting to start, or for a retry) and `running` (held
/// by a worker).
enum ListedStatus: Sendable, Equatable {
    case ended(DocumentStatus)
    case done, pending, running

    static let expected = "ok, partial, failed, skipped, done, pending or running"

    init?(name: String) {
        switch name {
        case "done": self = .done
        case "pending": self = .pending
        case "running": self = .running
        default:
            guard let status = [DocumentStatus.ok, .partial, .failed, .skipped].first(where: { $0.name == name }) else { return nil }
            self = .ended(status)
        }
    }

    /// Does a document that ended with `status` belong?
    func includes(_ status: DocumentStatus) -> Bool {
        switch self {
        case .ended(let wanted): status == wanted
        case .done: status != .failed
        case .pending, .running: false
        }
    }
}

/// A document of a page: its result once finished, else where it stands.
enum ListedDocument: Sendable {
    case finished(DocumentResult)
    /// `running`: a worker holds it now; else it waits (its path is not known then).
    case unfinished(Document, running: Bool)

    var id: String {
        switch self {
        case .finished(let result): result.document.id
        case .unfinished(let document, _): document.id
        }
    }
}

/// Which failed documents an operator runs again.
enum RetrySelection: Sendable {
    case document(String)
    /// A failure group of `/api/status`: the failed stage and the error.
    case group(stage: String?, error: String)
    case allFailed

    var isDocument: Bool { if case .document = self { true } else { false } }
}

/// What a retry did: how many failed documents matched, and which were put back to run.
struct RetryAnswer: Sendable {
    var matched: Int
    var requeued: [String]
    /// Matched, but added from memory: their content is gone, so they cannot run again.
    var contentGone: [String] = []
}

/// One batch as the server shows it. Times are Unix seconds.
struct BatchStatus: Sendable {
    var name: String
    /// Whom the batch runs for (the batch option `tenant`).
    var tenant: String
    var stats: BatchStats
    /// An operator paused dispatching.
    var paused = false
    var budgetUSD: Double?
    /// Documents finished per second over the last minute.
    var docsPerSecond: Double
    var estimatedCompletion: Double?
    var lastSuccess: Double?
    var throughput: [ThroughputHistory.Sample]
    var limiter: LimiterStatus?
    var failures: [FailureGroup]
    /// The workers serving it, for a distributed batch.
    var workers: [WorkerStatus] = []
    /// The operator actions (`/api/NAME`) it takes now, given the token.
    var actions: [String] = []

    /// Documents not started yet, or waiting for a retry or their rate limit.
    var queued: UInt64 {
        guard stats.totalKnown else { return stats.retryWaiting + stats.rateLimitWaiting }
        let started = stats.finishedCount + stats.inFlight
        return stats.total > started ? stats.total - started : 0
    }
}

/// A worker of a distributed batch, as its heartbeats tell.
struct WorkerStatus: Sendable {
    var name: String
    /// Documents it committed.
    var done: Int
    var state: String
    var secondsSinceSeen: Double?
}

/// What a rate limiter has left.
struct LimiterStatus: Sendable {
    var name: String
    var summary: String
    /// Set while a Retry-After pauses it.
    var pausedUntil: Double?
    var tokensAvailable: Double?
}
