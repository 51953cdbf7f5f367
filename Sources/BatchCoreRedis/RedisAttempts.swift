import BatchCore

/// The attempt history of a batch's documents that failed or took more than
/// one attempt (as a run's journal keeps it), each call with its time, worker,
/// duration, outcome, error and stderr tail. A job carries its calls from
/// worker to worker; the worker that commits its result adds them to the
/// document's history here. Bounded: the last `kept` calls of each document.
public struct RedisAttempts: Sendable {
    public static let kept = 20

    public let keys: RedisKeys

    public init(batch: String) { keys = RedisKeys(batch: batch) }

    /// Adds the calls of newly committed results that keep a history to
    /// what their documents had (from before a retry of failed documents).
    /// Only the worker that committed a result writes its history, so
    /// reading and writing back needs no script.
    func record(_ results: [DocumentResult], on connection: RedisConnection) throws {
        let kept = results.filter(\.keepsHistory)
        guard !kept.isEmpty else { return }
        let ids = kept.map { $0.document.id as any RedisArgument }
        let earlier = try connection.command(["HMGET", keys.attempts] + ids)
        let stored = try earlier.expect(earlier.array, "a list of histories")
        var fields: [any RedisArgument] = []
        for (result, before) in zip(kept, stored) {
            let history = try (before.bytes.map(AttemptCodec.decode) ?? []) + result.history
            fields += [result.document.id, AttemptCodec.encode(history.suffix(Self.kept))]
        }
        try connection.command(["HSET", keys.attempts] + fields)
    }

    /// A document's calls, oldest first; empty when none were kept.
    public func history(of id: String, on connection: RedisConnection) throws -> [AttemptRecord] {
        try connection.command("HGET", keys.attempts, id).bytes.map(AttemptCodec.decode) ?? []
    }
}
