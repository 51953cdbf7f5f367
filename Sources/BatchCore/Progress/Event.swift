/// What a batch tells its event handler.
public enum BatchEvent: Sendable {
    case documentFinished(DocumentResult, BatchStats)
    case progress(BatchStats)
    case log(level: Int32, message: String, document: Document?, BatchStats)
    case notice(BatchNotice, BatchStats)
    case finished(BatchStats)
}
