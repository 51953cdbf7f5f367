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
///
/// More lines past the recorded length than one commit appends mean the
/// journal lost finished documents (truncated, copied without its -wal
/// file): such an output, like any existing output no journal records, is
/// refused rather than replaced or run again (`JournalRecovery` rebuilds
/// the journal from it).
enum OutputRecovery {
    /// The output writer for a run. `overwrite` lets it replace an output
    /// file holding results the journal does not record; without it such a
    /// file is refused, never silently replaced or run again. `groupLimit`
    /// is the most lines one commit of this run appends.
    static func open(path: String?, journal: Journal?, resuming: Bool, retryFailed: Bool,
                     overwrite: Bool, groupLimit: Int) throws -> OutputWriter? {
        guard let journal else {
            guard let path else { return nil }
            if !overwrite { try refuseUnrecorded(path, journal: nil, tail: nil) }
            return try OutputWriter(path: path)
        }
        let db = journal.writerDB
        let recordedLength = Int64(try Journal.meta(db, "output_offset") ?? "0") ?? 0
        let recordedPath = try Journal.meta(db, "output_path")
        let recorded = path.map { !isStream($0) && recordedPath == $0 } ?? false
        if let path, !overwrite {
            try refuseUnrecorded(path, journal: journal.path,
                                 tail: recorded ? (from: recordedLength, limit: try previousGroupLimit(db)) : nil)
        }
        let writer = try makeWriter(path, journal: journal, resuming: resuming, retryFailed: retryFailed,
                                    keeping: recorded ? recordedLength : nil)
        try db.transaction {
            try Journal.setMeta(db, "commit_group_limit", String(groupLimit))
            if !resuming {
                // From its first line on, the output is this journal's.
                try Journal.setMeta(db, "output_path", path == "-" ? "" : path ?? "")
                try Journal.setMeta(db, "output_offset", "0")
            }
        }
        return writer
    }

    /// A fresh output, or a resumed one cut back to the recorded length
    /// (`keeping`, when the journal recorded this file), else rewritten.
    private static func makeWriter(_ path: String?, journal: Journal, resuming: Bool, retryFailed: Bool,
                                   keeping recordedLength: Int64?) throws -> OutputWriter? {
        guard resuming else { return try path.map { try OutputWriter(path: $0) } }
        if retryFailed {
            // Failed documents become pending again: their rows and lines go.
            guard let path else {
                try Journal.forgetFailed(journal.writerDB)
                return nil
            }
            return try rewrite(path, journal: journal, dropFailed: true)
        }
        guard let path else { return nil }
        var info = stat()
        if let recordedLength, stat(path, &info) == 0, Int64(info.st_size) >= recordedLength {
            return try OutputWriter(path: path, keeping: recordedLength)
        }
        return try rewrite(path, journal: journal, dropFailed: false)
    }

    /// Most lines one commit of the last run appended: after a crash, the
    /// output may hold that many lines beyond what the journal recorded.
    private static func previousGroupLimit(_ db: SQLiteDatabase) throws -> Int64 {
        Int64(try Journal.meta(db, "commit_group_limit") ?? "") ?? 1000
    }

    /// Refuses an output file holding results the journal does not record:
    /// all of a file the journal never wrote (`tail` nil), or more lines past
    /// the recorded length than one interrupted commit can leave.
    static func refuseUnrecorded(_ path: String, journal: String?, tail: (from: Int64, limit: Int64)?) throws {
        var info = stat()
        guard path != "-", stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG,
              Int64(info.st_size) > (tail?.from ?? 0) else { return }
        guard let tail else {
            throw BatchCoreError(.state, "the output file '\(path)' already exists and "
                + (journal.map { "the journal '\($0)' does not record its results" } ?? "no journal records its results")
                + "; add --overwrite to replace it, or choose another --output."
                + (journal.map { " " + JournalCheck.recoverHint(journal: $0, output: path) } ?? ""))
        }
        let lines = try countLines(path, from: tail.from, upTo: tail.limit + 1)
        guard lines > tail.limit, let journal else { return }
        throw BatchCoreError(.state, "the output file '\(path)' holds more than \(tail.limit) results after the last one the journal '\(journal)' recorded: "
            + "the journal has lost finished documents (was it truncated, or restored without its -wal file?), and resuming would run them again. "
            + JournalCheck.recoverHint(journal: journal, output: path)
            + "; or add --overwrite to drop those results and run their documents again")
    }

    /// Lines (a last one without its newline counts) from `offset` to the
    /// end of `path`, counting no further than `limit`.
    private static func countLines(_ path: String, from offset: Int64, upTo limit: Int64) throws -> Int64 {
        guard let file = fopen(path, "r") else {
            throw BatchCoreError(.io, "cannot read the output file '\(path)': \(errnoText())")
        }
        defer { fclose(file) }
        fseeko(file, off_t(offset), SEEK_SET)
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var lines: Int64 = 0
        var last: UInt8 = 0x0A
        while lines < limit {
            let count = buffer.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            guard count > 0 else { break }
            lines += Int64(buffer[..<count].lazy.filter { $0 == 0x0A }.count)
            last = buffer[count - 1]
        }
        return lines + (last == 0x0A ? 0 : 1)
    }

    /// Set in the journal when a retried document's new line joined the
    /// output after its failed one; cleared once the output is rewritten.
    static let supersededKey = "output_superseded"

    /// At the end of a run that retried documents (or of the run that
    /// resumes it after a crash: the mark stays until then), rewrites the
    /// output file from the journal, so each document has one line again
    /// (its last result). A stream keeps both lines: the later one is the result.
    static func dropSupersededLines(_ journal: Journal) throws {
        let db = journal.writerDB
        guard try Journal.meta(db, supersededKey) != nil, let path = try Journal.meta(db, "output_path"),
              !path.isEmpty, !isStream(path) else { return }
        _ = try rewrite(path, journal: journal, dropFailed: false)
    }

    private static func rewrite(_ path: String, journal: Journal, dropFailed: Bool) throws -> OutputWriter {
        let db = journal.writerDB
        let failed = DocumentStatus.failed.rawValue
        let filter = dropFailed ? "WHERE status <> \(failed)" : ""
        let rows = try db.prepare("SELECT \(JournalRows.columns) FROM documents \(filter) ORDER BY out_seq")
        let stream = isStream(path)
        let target = stream ? path : path + ".rebuilding"
        let writer = try OutputWriter(path: target)
        while try rows.step() {
            if let error = writer.write(JournalRows.result(rows)) { throw error }
        }
        if let error = writer.flush() { throw error }
        let length = writer.offset
        guard !stream else {
            try db.transaction {
                if dropFailed { try Journal.forgetFailed(db) }
                try db.execute("DELETE FROM meta WHERE key = '\(supersededKey)'")
            }
            return writer
        }
        guard rename(target, path) == 0 else {
            throw BatchCoreError(.io, "cannot replace the output file '\(path)': \(errnoText())")
        }
        try db.transaction {
            if dropFailed { try Journal.forgetFailed(db) }
            try db.execute("DELETE FROM meta WHERE key = '\(supersededKey)'")
            try Journal.setMeta(db, "output_path", path)
            try Journal.setMeta(db, "output_offset", String(length))
        }
        return try OutputWriter(path: path, keeping: length)
    }

    /// Standard output, a device or a pipe: written to, never cut back or
    /// replaced (renaming over /dev/null would replace the device itself).
    static func isStream(_ path: String) -> Bool {
        var info = stat()
        return path == "-" || (stat(path, &info) == 0 && (info.st_mode & S_IFMT) != S_IFREG)
    }
}
