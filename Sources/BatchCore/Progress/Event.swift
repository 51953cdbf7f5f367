/// What a batch tells its event handler.
public enum BatchEvent: Sendable {
    case documentFinished(DocumentResult, BatchStats)
    case progress(BatchStats)
    case log(level: LogLevel, message: String, document: Document?, BatchStats)
    case notice(BatchNotice, BatchStats)
    case finished(BatchStats)
}
