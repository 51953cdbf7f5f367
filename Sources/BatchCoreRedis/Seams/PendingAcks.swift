import BatchCore

/// Jobs the engine finished but whose results are not committed yet. The
/// engine acknowledges a job when it finishes and commits its result a
/// little later; acknowledging on the server at once would lose the
/// document if the worker died in between. So a job stays leased until the
/// result store has committed its result (or found one committed earlier),
/// and is acknowledged with the group it was committed in.
public final class PendingAcks: Sendable {
    private let queue: RedisWorkQueue
    private let state = Locked(State())

    private struct State {
        /// Document id → stream entries finished and waiting for their commit.
        var waiting: [String: [String]] = [:]
        /// Documents the store found already committed: acknowledged at once.
        var committedBefore: Set<String> = []
    }

    public init(queue: RedisWorkQueue) { self.queue = queue }

    /// A job finished: returns the entries to acknowledge now (its result was committed before).
    func finished(_ id: String, entry: String) -> [String] {
        state.withLock { s in
            if s.committedBefore.remove(id) != nil { return [entry] }
            s.waiting[id, default: []].append(entry)
            return []
        }
    }

    /// The store found `id` committed before this job ran.
    func foundCommitted(_ id: String) {
        _ = state.withLock { $0.committedBefore.insert(id) }
    }

    /// Acknowledges the jobs of documents whose results are now committed.
    func committed(_ ids: [String], on connection: RedisConnection) throws {
        let entries = state.withLock { s in ids.flatMap { s.waiting.removeValue(forKey: $0) ?? [] } }
        try queue.ack(entries, on: connection)
    }

    func ack(_ entries: [String], on connection: RedisConnection) throws {
        try queue.ack(entries, on: connection)
    }
}
