import BatchCore
import BatchCoreRedis

/// The status of the batches a `batchhost worker` runs now, for its own
/// `--http`: each batch's live counters; read-only.
final class WorkerStatusSource: StatusSource, Sendable {
    private let server: BatchServer
    /// One status per batch served, kept for its throughput history.
    private let statuses = Locked([String: LocalRunStatus]())

    init(server: BatchServer) {
        self.server = server
    }

    func batches() throws -> [BatchStatus] {
        let served = server.served
        let current: [LocalRunStatus] = statuses.withLock { all in
            all = all.filter { id, _ in served[id] != nil }
            return served.sorted { $0.key < $1.key }.map { id, batch in
                if let known = all[id] { return known }
                let status = LocalRunStatus(batch: batch, name: id, journalPath: nil)
                all[id] = status
                return status
            }
        }
        return current.flatMap { $0.batches() }
    }

    func documents(_ filter: JournalReader.DocumentFilter, status: ListedStatus?, batch: String?) throws -> [ListedDocument] { throw noDocuments }

    func document(id: String, batch: String?) throws -> (DocumentResult, [AttemptRecord])? { throw noDocuments }

    private var noDocuments: BatchCoreError {
        BatchCoreError(.notFound, "a worker lists no documents: `batchhost collect --redis URL BATCH` writes a batch's results")
    }

    func cancel(batch: String?) throws { throw readOnly }

    func setPaused(_ paused: Bool, batch: String?) throws { throw readOnly }

    func retry(_ selection: RetrySelection, batch: String?) throws -> RetryAnswer { throw readOnly }

    private var readOnly: BatchCoreError {
        BatchCoreError(.invalidArgument, "a worker takes no actions: use `batchhost dashboard --redis URL --http-token TOKEN`")
    }
}
