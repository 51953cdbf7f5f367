/// One document on its way through the stages. A retry keeps its place:
/// the stage it is at, that stage's input, and what it has used so far.
public struct Job: Sendable {
    public var document: Document
    public var stage = 0
    public var input: [UInt8]? = nil
    /// Attempts at the current stage.
    public var stageAttempts = 0
    /// Attempts of the document: the first and each retry, at any stage.
    public var attempts = 0
    public var partial = false
    /// The message of the last failed attempt, or of a partial stage.
    public var lastError: String? = nil
    /// The message of the last partial stage: what a finished document keeps.
    public var partialError: String? = nil
    public var inputTokens: UInt64 = 0
    public var outputTokens: UInt64 = 0
    public var units: UInt64 = 0
    public var costUSD: Double = 0
    /// Time spent in processor calls, nanoseconds.
    public var busyNanos: UInt64 = 0
    /// SHA-256 of the content, when dedupe computed it.
    public var contentHash: String? = nil
    /// Why the job was given back to its queue, if it was.
    public var waitingFor: Wait? = nil
    /// Money the budget holds for this document until it finishes.
    public var reservation: BudgetReservation? = nil
    /// Its calls so far, in order (see `DocumentResult.history`).
    public var history: [AttemptRecord] = []
    /// A remote document's bytes, once fetched.
    var fetched: FetchedContent? = nil

    /// The document as processors see it: a remote one's fetched bytes or
    /// temporary file in place of its URL.
    var presented: Document { fetched?.presenting(document) ?? document }

    public enum Wait: Sendable { case retry, rateLimit }

    public init(document: Document) { self.document = document }
}
