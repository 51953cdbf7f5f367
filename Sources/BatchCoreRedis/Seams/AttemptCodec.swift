import BatchCore

/// A document's attempt history as fields (`FieldWriter`): eight per call.
/// A job carries its history from worker to worker in this form, and the
/// attempts hash keeps it (`RedisAttempts`).
enum AttemptCodec {
    static func encode<Records: Collection<AttemptRecord>>(_ history: Records) -> [UInt8] {
        var w = FieldWriter()
        for a in history {
            w.add(a.attempt); w.add(a.stage); w.add(a.startedAt); w.add(a.worker)
            w.add(a.durationMs); w.add(a.outcome); w.add(a.error); w.add(a.stderr)
        }
        return w.bytes
    }

    static func decode(_ bytes: [UInt8]) throws -> [AttemptRecord] {
        var r = FieldReader(bytes[...])
        var history: [AttemptRecord] = []
        while !r.rest.isEmpty {
            history.append(AttemptRecord(
                attempt: try r.integer(), stage: try r.text() ?? "", startedAt: try r.double(), worker: try r.text() ?? "",
                durationMs: try r.double(), outcome: try r.text() ?? "", error: try r.text(), stderr: try r.text()))
        }
        return history
    }
}
