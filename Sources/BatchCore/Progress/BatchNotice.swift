/// Something the engine did that a log records but a terminal need not show.
public enum BatchNotice: Sendable {
    /// A document's stage failed in a way worth another attempt, after `delaySeconds`.
    case retry(document: Document, stage: String, attempt: Int, delaySeconds: Double, reason: String)
    /// A Retry-After (a 429) paused the stage's rate limit for everyone.
    case rateLimitPause(document: Document, stage: String, seconds: Double)
}
