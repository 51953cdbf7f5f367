/// Something a finished document fans out to: statistics, kept results,
/// the dedupe index, the result writer (outputs and the result store),
/// events. Called on the thread that finished the document.
protocol ResultSink: AnyObject, Sendable {
    /// `persisted` false: the result stays out of the outputs and the store
    /// (a document refused for a repeated id).
    func accept(_ result: DocumentResult, persisted: Bool)
}

/// Every result, in finishing order (`keep_results`).
final class KeptResults: ResultSink {
    private let results = Locked([DocumentResult]())

    func accept(_ result: DocumentResult, persisted: Bool) {
        results.withLock { $0.append(result) }
    }

    var all: [DocumentResult] { results.withLock { $0 } }
}

/// Posts a `documentFinished` event for each result (or only failed ones).
final class DocumentEventSink: ResultSink {
    private let pump: EventPump
    private let onlyFailed: Bool
    private let stats: RunStats

    init(pump: EventPump, onlyFailed: Bool, stats: RunStats) {
        self.pump = pump
        self.onlyFailed = onlyFailed
        self.stats = stats
    }

    func accept(_ result: DocumentResult, persisted: Bool) {
        guard !onlyFailed || result.status == .failed else { return }
        pump.post(.documentFinished(result, stats.snapshot))
    }
}
