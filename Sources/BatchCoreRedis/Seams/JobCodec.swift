import BatchCore

/// A job as the bytes a stream entry or the delayed ZSET holds: the
/// document, then where it stands (stage, its input, attempts across
/// machines, usage so far, its last `RedisAttempts.kept` calls). Fields a new
/// job does not need are left off.
enum JobCodec {
    static func encode(_ job: Job) -> [UInt8] {
        var w = FieldWriter()
        encodeDocument(job.document, into: &w)
        let fresh = job.stage == 0 && job.input == nil && job.attempts == 0 && job.contentHash == nil && job.reservation == nil
        guard !fresh else { return w.bytes }
        w.add(job.stage); w.add(job.input); w.add(job.stageAttempts); w.add(job.attempts)
        w.add(job.partial ? 1 : 0); w.add(job.lastError); w.add(job.partialError)
        w.add(job.inputTokens); w.add(job.outputTokens); w.add(job.units); w.add(job.costUSD)
        w.add(job.busyNanos); w.add(job.contentHash)
        w.add(job.reservation.map { String($0.id) }); w.add(job.reservation?.amount ?? 0)
        w.add(job.history.isEmpty ? nil : AttemptCodec.encode(job.history.suffix(RedisAttempts.kept)))
        return w.bytes
    }

    static func decode(_ bytes: [UInt8]) throws -> Job {
        var r = FieldReader(bytes[...])
        var job = Job(document: try decodeDocument(&r))
        job.stage = try r.integer()
        job.input = try r.bytesField()
        job.stageAttempts = try r.integer()
        job.attempts = try r.integer()
        job.partial = try r.integer(Int.self) == 1
        job.lastError = try r.text()
        job.partialError = try r.text()
        job.inputTokens = try r.integer()
        job.outputTokens = try r.integer()
        job.units = try r.integer()
        job.costUSD = try r.double()
        job.busyNanos = try r.integer()
        job.contentHash = try r.text()
        let reservation = try r.text().flatMap { UInt64($0) }
        let amount = try r.double()
        job.reservation = reservation.map { BudgetReservation(id: $0, amount: amount) }
        job.history = try r.bytesField().map(AttemptCodec.decode) ?? []
        return job
    }

    static func encodeDocument(_ document: Document, into w: inout FieldWriter) {
        w.add(Array(document.id.utf8)); w.add(document.path); w.add(document.metadata == "{}" ? nil : document.metadata)
    }

    static func decodeDocument(_ r: inout FieldReader) throws -> Document {
        guard let id = try r.text() else { throw RedisError(.unexpectedReply, "redis: a stored job has no document id") }
        return Document(id: id, path: try r.text(), metadata: try r.text() ?? "{}")
    }
}
