/// Final status of a document.
public enum DocumentStatus: Int32, Sendable {
    case pending = 0
    case ok = 1
    case partial = 2
    case failed = 3
    case skipped = 4

    public var name: String {
        switch self {
        case .pending: "pending"
        case .ok: "ok"
        case .partial: "partial"
        case .failed: "failed"
        case .skipped: "skipped"
        }
    }
}

/// What became of one document.
public struct DocumentResult: Sendable {
    public var document: Document
    public var status: DocumentStatus
    /// The last stage's output.
    public var output: [UInt8]?
    public var outputIsJSON: Bool
    public var error: String?
    public var attempts: Int
    /// Index and label of the stage that failed, when failed.
    public var failedStage: Int?
    public var failedStageLabel: String?
    public var durationMs: Double
    public var inputTokens: UInt64
    public var outputTokens: UInt64
    /// Free-form units the processors reported (pages, images, ...).
    public var units: UInt64 = 0
    /// What the tokens cost at the stages' prices, US dollars.
    public var costUSD: Double = 0
    /// SHA-256 of the document's content, when it was computed (dedupe).
    public var contentHash: String? = nil
    /// The document whose result was reused (dedupe).
    public var duplicateOf: String? = nil
    /// The calls of this run that led to this result, in order; empty for
    /// a document done in one call (its result tells that call).
    public var history: [AttemptRecord] = []
    /// A remote document's ETag (else Last-Modified) when it was fetched.
    public var sourceVersion: String? = nil

    /// Is its history kept (the journal's attempts, Redis' attempts hash)? When
    /// it failed or took more than one call; else its one call is its result.
    public var keepsHistory: Bool { AttemptRecord.isKept(failed: status == .failed, attempts: attempts, calls: history.count) }
}
