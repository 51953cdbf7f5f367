import BatchCore

/// Whether the documents of freshly claimed jobs already have a result,
/// asked in one round trip per claim; the result store answers the engine's
/// question for each document from here, not with a round trip of its own.
public final class KnownResults: Sendable {
    private let answers = Locked([String: DocumentStatus?]())

    public init() {}

    /// Asks the server about the documents of `jobs` that never ran.
    func learn(about jobs: [Job], results: RedisResults, on connection: RedisConnection) throws {
        let ids = jobs.filter { $0.attempts == 0 }.map(\.document.id)
        guard !ids.isEmpty else { return }
        let reply = try connection.command(["HMGET", results.keys.results] + ids.map { $0 as any RedisArgument })
        let values = reply.array ?? []
        answers.withLock { a in
            // updateValue: a subscript assignment of nil would drop "no result", the common answer.
            for (id, value) in zip(ids, values) { a.updateValue(value.bytes.flatMap { try? StoredLine.decode($0).status }, forKey: id) }
        }
    }

    /// The answer learnt for `id`, taken once; nil when none was learnt.
    func take(_ id: String) -> DocumentStatus?? {
        answers.withLock { $0.removeValue(forKey: id) }
    }
}
