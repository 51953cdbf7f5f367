import Glibc

/// Makes the output file agree with the journal when a run resumes.
///
/// The writer appends a group's lines before committing the group with the
/// file's new length, so after any crash the file holds at least what the
/// journal recorded — plus, perhaps, lines of uncommitted results, which
/// will be re-run. Resuming therefore cuts the file back to the recorded
/// length. When that cannot be trusted (another output file, a file shorter
/// than recorded, standard output) or `retry_failed` must drop the failed
/// documents' lines, the output is rewritten from the journal instead: into
/// a temporary file renamed over the output before the journal is updated.
enum OutputRecovery {
    static func open(path: String?, journal: Journal, resuming: Bool, retryFailed: Bool) throws -> OutputWriter? {
        let db = journal.writerDB
        guard resuming else { return try path.map { try OutputWriter(path: $0) } }

        if retryFailed {
            // Failed documents become pending again: their rows and lines go.
            guard let path else {
                try db.execute("DELETE FROM documents WHERE status = \(DocumentStatus.failed.rawValue)")
                return nil
            }
            return try rewrite(path, journal: journal, dropFailed: true)
        }
        guard let path else { return nil }
        let recordedPath = try Journal.meta(db, "output_path")
        let recordedLength = Int64(try Journal.meta(db, "output_offset") ?? "0") ?? 0
        var info = stat()
        if path != "-", recordedPath == path, stat(path, &info) == 0, Int64(info.st_size) >= recordedLength {
            return try OutputWriter(path: path, keeping: recordedLength)
        }
        return try rewrite(path, journal: journal, dropFailed: false)
    }

    private static func rewrite(_ path: String, journal: Journal, dropFailed: Bool) throws -> OutputWriter {
        let db = journal.writerDB
        let failed = DocumentStatus.failed.rawValue
        let filter = dropFailed ? "WHERE status <> \(failed)" : ""
        let rows = try db.prepare("SELECT \(JournalRows.columns) FROM documents \(filter) ORDER BY out_seq")
        let target = path == "-" ? "-" : path + ".rebuilding"
        let writer = try OutputWriter(path: target)
        while try rows.step() {
            if let error = writer.write(JournalRows.result(rows)) { throw error }
        }
        if let error = writer.flush() { throw error }
        let length = writer.offset
        guard path != "-" else {
            if dropFailed { try db.execute("DELETE FROM documents WHERE status = \(failed)") }
            return writer
        }
        guard rename(target, path) == 0 else {
            throw BatchCoreError(.io, "cannot replace the output file '\(path)': \(errnoText())")
        }
        try db.transaction {
            if dropFailed { try db.execute("DELETE FROM documents WHERE status = \(failed)") }
            try Journal.setMeta(db, "output_path", path)
            try Journal.setMeta(db, "output_offset", String(length))
        }
        return try OutputWriter(path: path, keeping: length)
    }
}
