/// A batch's jobs on a Redis stream read by one consumer group, so each job is
/// leased to one consumer (a worker thread) at a time. A job whose consumer stops
/// renewing its lease is reclaimed by the next claim after the lease; a job given
/// back waits in a ZSET until due. Jobs are opaque bytes, unique within the batch
/// (they carry the document id).
public struct RedisWorkQueue: Sendable {
    /// A leased job: its stream entry id and its bytes.
    public struct Claimed: Sendable, Equatable {
        public let entry: String
        public let job: [UInt8]
    }

    public static let group = "workers"
    private static let field = "job"

    public let keys: RedisKeys
    public let lease: Duration

    public init(batch: String, lease: Duration) {
        keys = RedisKeys(batch: batch)
        self.lease = lease
    }

    /// Creates the stream and the consumer group if missing (from the stream's
    /// start, so jobs added before are delivered). Idempotent.
    public func create(on connection: RedisConnection) throws {
        try connection.resending { connection in
            do {
                try connection.command("XGROUP", "CREATE", keys.jobs, Self.group, "0", "MKSTREAM")
            } catch let error as RedisError where error.kind == .server && error.message.contains("BUSYGROUP") {
                return  // the group exists
            }
        }
    }

    /// Appends jobs in one pipeline; returns their entry ids. Not resent: when the
    /// connection is lost some jobs may have been added.
    @discardableResult
    public func add(_ jobs: [[UInt8]], on connection: RedisConnection) throws -> [String] {
        let replies = try connection.pipeline(jobs.map { ["XADD", keys.jobs, "*", Self.field, $0] })
        return try replies.map { try $0.expect($0.string, "an entry id from XADD") }
    }

    /// Leases up to `count` jobs to `consumer`. With `expiredFirst`, jobs whose
    /// lease expired come first (XAUTOCLAIM of entries idle longer than the
    /// lease), then new ones (XREADGROUP); without it, new ones, and expired
    /// ones only when there are no new ones: XAUTOCLAIM walks the pending
    /// entries, which grow with the jobs in flight, so it is not worth a
    /// round trip on every claim. Each step is atomic; both are resent after
    /// a reconnect (jobs leased by a lost reply come back when their lease expires).
    public func claim(upTo count: Int, consumer: String, expiredFirst: Bool = true,
                      on connection: RedisConnection) throws -> [Claimed] {
        guard count > 0 else { return [] }
        let reclaim = { (n: Int) in try connection.resending { try reclaimExpired(upTo: n, consumer: consumer, on: $0) } }
        let read = { (n: Int) in try connection.resending { try readNew(upTo: n, consumer: consumer, on: $0) } }
        var claimed = try expiredFirst ? reclaim(count) : read(count)
        if claimed.count < count && (expiredFirst || claimed.isEmpty) {
            claimed += try expiredFirst ? read(count - claimed.count) : reclaim(count)
        }
        return claimed
    }

    /// Acks and deletes finished entries, atomically (MULTI/EXEC), in one round trip.
    public func ack(_ entries: [String], on connection: RedisConnection) throws {
        guard !entries.isEmpty else { return }
        let ids = entries.map { $0 as any RedisArgument }
        let replies = try connection.resending {
            try $0.pipeline([["MULTI"], ["XACK", keys.jobs, Self.group] + ids, ["XDEL", keys.jobs] + ids, ["EXEC"]])
        }
        let exec = replies.last ?? .null
        if let failure = ([exec] + (exec.array ?? [])).first(where: \.isError), case .error(let message) = failure {
            throw RedisError(.server, "redis: acking \(entries.count) jobs failed: \(message)")
        }
    }

    /// Resets the lease of the entries `consumer` still holds; returns those. An
    /// entry missing from the answer was reclaimed by another consumer: stop it.
    public func renew(_ entries: [String], consumer: String, on connection: RedisConnection) throws -> [String] {
        guard !entries.isEmpty else { return [] }
        let reply = try connection.resending {
            try QueueScripts.renew.run(on: $0, keys: [keys.jobs, keys.delayed], arguments: [Self.group, consumer] + entries.map { $0 as any RedisArgument })
        }
        return try reply.expect(reply.array, "a list of entry ids").map { try $0.expect($0.string, "an entry id") }
    }

    /// Gives a leased job back for a retry after `delay` (server clock): atomically
    /// acks it and schedules it in the delayed ZSET. Returns false, doing nothing,
    /// when `consumer` no longer holds it.
    public func giveBack(_ claimed: Claimed, consumer: String, after delay: Duration, on connection: RedisConnection) throws -> Bool {
        let reply = try connection.resending {
            try QueueScripts.giveBack.run(on: $0, keys: [keys.jobs, keys.delayed],
                                         arguments: [Self.group, consumer, claimed.entry, claimed.job, delay.wholeMilliseconds])
        }
        return try reply.expect(reply.integer, "0 or 1") == 1
    }

    /// Moves up to `limit` due jobs from the delayed ZSET back onto the stream,
    /// atomically; returns how many moved.
    @discardableResult
    public func moveDue(limit: Int, on connection: RedisConnection) throws -> Int {
        let reply = try connection.resending {
            try QueueScripts.moveDue.run(on: $0, keys: [keys.jobs, keys.delayed], arguments: [limit])
        }
        return Int(try reply.expect(reply.integer, "a count"))
    }

    private func reclaimExpired(upTo count: Int, consumer: String, on connection: RedisConnection) throws -> [Claimed] {
        let reply = try connection.command("XAUTOCLAIM", keys.jobs, Self.group, consumer, lease.wholeMilliseconds, "0-0", "COUNT", count)
        guard let parts = reply.array, parts.count >= 2, let entries = parts[1].array else {
            throw RedisError(.unexpectedReply, "redis: expected XAUTOCLAIM's [cursor, entries, …], got \(reply)")
        }
        return try entries.compactMap(Self.job)
    }

    private func readNew(upTo count: Int, consumer: String, on connection: RedisConnection) throws -> [Claimed] {
        let reply = try connection.command("XREADGROUP", "GROUP", Self.group, consumer, "COUNT", count, "STREAMS", keys.jobs, ">")
        let streams = try reply.expect(reply.array, "XREADGROUP's streams")
        return try streams.flatMap { stream -> [Claimed] in
            guard let pair = stream.array, pair.count == 2, let entries = pair[1].array else {
                throw RedisError(.unexpectedReply, "redis: expected XREADGROUP's [stream, entries], got \(stream)")
            }
            return try entries.compactMap(Self.job)
        }
    }

    /// The job of a stream entry `[id, [field, value, …]]`; nil for an entry deleted
    /// while pending (older servers list those as null).
    private static func job(_ entry: RedisReply) throws -> Claimed? {
        guard let parts = entry.array, parts.count == 2, let id = parts[0].string else { return nil }
        let fields = try parts[1].expect(parts[1].array, "the fields of entry \(id)")
        guard let at = fields.firstIndex(where: { $0.string == field }), at + 1 < fields.count,
              let job = fields[at + 1].bytes
        else { throw RedisError(.unexpectedReply, "redis: entry \(id) has no '\(field)' field") }
        return Claimed(entry: id, job: job)
    }
}
