import FoundationEssentials
import Glibc

/// Rebuilds a lost or damaged journal from the output file: each output
/// line carries a finished document's id, status, attempts and result, so
/// a resume that follows skips every document the output holds.
///
/// The new journal is built beside the old one and renamed into place; the
/// old journal (with its -wal file) is kept under a backup name. A torn
/// last line is left out (the resume cuts it off and runs that document
/// again). When an id appears on several lines, the last line wins and the
/// output is rewritten with one line per id (the original is kept too).
public enum JournalRecovery {
    public struct Report: Sendable {
        /// Finished documents the new journal records.
        public var documents = 0
        /// Lines dropped because a later line holds the same id.
        public var duplicates = 0
        /// Bytes of a torn last line, left out.
        public var tornBytes: Int64 = 0
        /// Where the old journal was moved, if there was one.
        public var oldJournal: String? = nil
        /// Where the original output was kept when it had to be rewritten.
        public var oldOutput: String? = nil
    }

    public static func rebuild(journal: String, output: String) throws -> Report {
        guard !OutputRecovery.isStream(output) else {
            throw BatchCoreError(.invalidArgument, "'\(output)' is not a regular file: recover reads the results from the output file a run wrote with -o FILE")
        }
        let lock = try JournalLock(journal: journal)
        defer { lock.release() }
        var report = Report()
        let building = journal + ".recovering"
        removeDatabase(building)
        do {
            let db = try SQLiteDatabase(path: building, create: true)
            try Journal.createSchema(db)
            try db.transaction {
                try record(output, into: db, configuration: configuration(of: journal), report: &report)
            }
            if report.duplicates > 0 {
                report.oldOutput = try rewriteOutput(output, from: db)
            }
            db.close()
            report.oldJournal = try moveAside(journal)
            guard rename(building, journal) == 0 else {
                throw BatchCoreError(.io, "cannot move the rebuilt journal to '\(journal)': \(errnoText())")
            }
        } catch {
            removeDatabase(building)
            throw error
        }
        return report
    }

    /// Inserts a row per output line; records the run and the output's length.
    private static func record(_ output: String, into db: SQLiteDatabase, configuration: String?,
                               report: inout Report) throws {
        guard let file = fopen(output, "r") else {
            throw BatchCoreError(errno == ENOENT ? .notFound : .io, "cannot read the output file '\(output)': \(errnoText())")
        }
        defer { fclose(file) }
        let insert = try db.prepare(JournalRows.insert)
        let now = Date().timeIntervalSince1970
        var line: UnsafeMutablePointer<CChar>? = nil
        defer { free(line) }
        var capacity = 0
        var length: Int64 = 0
        var number = 0
        while true {
            let count = getline(&line, &capacity, file)
            guard count > 0, let line else { break }
            number += 1
            guard line[count - 1] == 0x0A else {
                report.tornBytes = Int64(count)
                break
            }
            let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(line).assumingMemoryBound(to: UInt8.self), count: count - 1)
            let result: DocumentResult
            do {
                result = try OutputLineParser.result(bytes)
            } catch let error as BatchCoreError {
                throw BatchCoreError(.input, "'\(output)' line \(number) is not a result line (\(error.message)); remove or repair that line, then run recover again")
            }
            JournalRows.bindInsert(insert, result, seq: Int64(number), run: 1, now: now)
            try insert.run()
            length += Int64(count)
        }
        report.documents = Int(try Journal.count(db))
        report.duplicates = number - (report.tornBytes > 0 ? 1 : 0) - report.documents
        try Journal.setMeta(db, "format_version", Journal.formatVersion)
        try Journal.setMeta(db, "created_at", String(now))
        if let configuration { try Journal.setMeta(db, "configuration", configuration) }
        try Journal.setMeta(db, "output_path", output)
        try Journal.setMeta(db, "output_offset", String(length))
        // Only the torn last line can lie past the recorded length.
        try Journal.setMeta(db, "commit_group_limit", "1")
        try db.prepare("INSERT INTO runs (run, started_at, ended_at, state, processed) VALUES (1, ?, ?, 'recovered', ?)")
            .bind(.double(now), .double(now), .int(Int64(report.documents))).run()
    }

    /// The run configuration the old journal recorded, if it can still be read.
    private static func configuration(of journal: String) -> String? {
        guard access(journal, R_OK) == 0, let db = try? SQLiteDatabase(path: journal, readOnly: true) else { return nil }
        return (try? Journal.meta(db, "configuration")) ?? nil
    }

    /// Writes one line per id, from the rebuilt journal, over the output;
    /// returns where the original output was kept.
    private static func rewriteOutput(_ output: String, from db: SQLiteDatabase) throws -> String {
        let rows = try db.prepare("SELECT \(JournalRows.columns) FROM documents ORDER BY out_seq")
        let writer = try OutputWriter(path: output + ".rebuilding")
        while try rows.step() {
            if let error = writer.write(JournalRows.result(rows)) { throw error }
        }
        if let error = writer.flush() { throw error }
        try db.transaction { try Journal.setMeta(db, "output_offset", String(writer.offset)) }
        let kept = freeName(output + ".bak")
        guard link(output, kept) == 0, rename(output + ".rebuilding", output) == 0 else {
            throw BatchCoreError(.io, "cannot replace the output file '\(output)': \(errnoText())")
        }
        return kept
    }

    /// Moves the old journal and its -wal file to a free backup name.
    private static func moveAside(_ journal: String) throws -> String? {
        guard access(journal, F_OK) == 0 || access(journal + "-wal", F_OK) == 0 else { return nil }
        let kept = freeName(journal + ".bak")
        for suffix in ["", "-wal", "-shm"] where access(journal + suffix, F_OK) == 0 {
            guard rename(journal + suffix, kept + suffix) == 0 else {
                throw BatchCoreError(.io, "cannot move the old journal '\(journal + suffix)' aside: \(errnoText())")
            }
        }
        return kept
    }

    private static func freeName(_ base: String) -> String {
        var name = base
        var n = 1
        while access(name, F_OK) == 0 || access(name + "-wal", F_OK) == 0 {
            n += 1
            name = base + String(n)
        }
        return name
    }

    private static func removeDatabase(_ path: String) {
        for suffix in ["", "-wal", "-shm", "-journal"] { unlink(path + suffix) }
    }
}
