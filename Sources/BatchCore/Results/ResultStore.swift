/// Where finished documents are recorded for good: which documents are
/// done, the first result for each content (dedupe), and the runs. A group
/// of results is committed atomically with the output's position after
/// them, so the output and the store agree after a crash. The local
/// implementation is the SQLite `Journal`.
public protocol ResultStore: AnyObject, Sendable {
    /// The final status committed for `id`, if any.
    func status(of id: String) -> DocumentStatus?
    /// The ETag or Last-Modified a remote document had when its committed
    /// result was made (optional: nil when the store does not record it).
    func sourceVersion(of id: String) -> String?
    /// The first committed ok or partial result with this content hash.
    func firstResult(withHash hash: String) -> StoredResult?
    /// What earlier runs spent, and on how many documents.
    var spentBefore: (cost: Double, documents: UInt64) { get }
    /// Records that a run starts.
    func beginRun() throws
    /// Commits `group` at once, with the output's position after its lines
    /// (nil without an output). Called by one thread at a time.
    func commit(_ group: [DocumentResult], output: OutputPosition?) throws
    /// Records how the run ended ("finished", "stopped", "failed", …).
    func endRun(state: String) throws
    /// The run's progress, for observers of the store (optional).
    func reportProgress(_ progress: RunProgress)
    /// Lets go of the store; nothing is called after.
    func close()
    /// A document this run committed as failed, taken to run again (an
    /// operator's retry), with its attempts so far; nil when it did not
    /// fail in this run or is taken already. Its next result supersedes
    /// the failed one, in the store and in the output.
    func takeFailedForRetry(_ id: String) -> RetryCandidate?
}

extension ResultStore {
    public func reportProgress(_ progress: RunProgress) {}
    public func takeFailedForRetry(_ id: String) -> RetryCandidate? { nil }
    public func sourceVersion(of id: String) -> String? { nil }
}

/// A run's progress, as observers of its store see it.
public struct RunProgress: Sendable {
    /// Documents in the batch; nil until the sources know.
    public var total: UInt64?
    public var inFlight: UInt64
    /// Database sinks waiting for their database (down, locked or slow).
    public var sinksWaiting: Int
}

/// A failed document taken to run again, and its attempts so far.
public struct RetryCandidate: Sendable {
    public let document: Document
    public let attempts: Int

    public init(document: Document, attempts: Int) {
        self.document = document
        self.attempts = attempts
    }
}

/// A committed result, as dedupe lends it to a document with the same content.
public struct StoredResult: Sendable, Equatable {
    public let id: String
    public let status: DocumentStatus
    public let output: [UInt8]?
    public let outputIsJSON: Bool

    public init(id: String, status: DocumentStatus, output: [UInt8]?, outputIsJSON: Bool) {
        self.id = id
        self.status = status
        self.output = output
        self.outputIsJSON = outputIsJSON
    }
}

/// How far an output file was written: where a resume cuts it back to.
public struct OutputPosition: Sendable, Equatable {
    public let path: String
    public let offset: Int64

    public init(path: String, offset: Int64) {
        self.path = path
        self.offset = offset
    }
}
