import CSQLite
import FoundationEssentials
import Glibc

/// The durable record of a run: its configuration and one row per finished
/// document (SQLite, WAL mode). The journal is the single source of truth;
/// the output file is derived from it (see `OutputRecovery`).
///
/// Two connections: the writer thread's (`JournalWriter`), and one for
/// lookups made while reading documents (resume skips, dedupe), under a lock.
// @unchecked: the reader connection is used under `readerLock`, the writer
// connection by one thread at a time (start, then the committing thread, then close).
public final class Journal: ResultStore, @unchecked Sendable {
    public let path: String
    let writerDB: SQLiteDatabase
    private let readerDB: SQLiteDatabase
    private let readerLock = Monitor()
    private var statusLookup: SQLiteStatement?
    private var hashLookup: SQLiteStatement?
    private var failedLookup: SQLiteStatement?
    /// Failed documents taken to run again whose new result is not committed yet.
    private let retrying = Locked(Set<String>())
    /// The writer's statements and next output sequence number; used only by
    /// the one thread that commits (see `ResultStore.commit`).
    private var writer: JournalCommitter? = nil
    /// This run's ownership of the journal, until `close`.
    let lock: JournalLock
    /// Number of this run in the journal (1 for the first, 2 for the first resume, …).
    public private(set) var run: Int64 = 0
    /// What earlier runs spent, and on how many documents.
    public let spentBefore: (cost: Double, documents: UInt64)

    static let formatVersion = "1"

    /// What `beginRun` records.
    private let configuration: RunConfiguration
    private let replacesConfiguration: Bool
    private let isNew: Bool

    /// Opens the journal for a run: creates it, or resumes it. Refuses a
    /// journal another run holds, a damaged one, to reuse an existing journal
    /// without `resume`, to resume one that holds no run, and to resume a
    /// different run unless `force`. `output` is the run's output file, named in advice.
    public init(path: String, configuration: RunConfiguration, resume: Bool, force: Bool, output: String? = nil) throws {
        self.path = path
        lock = try JournalLock(journal: path)
        var info = stat()
        let exists = stat(path, &info) == 0
        if resume && !exists {
            throw BatchCoreError(.notFound, "no journal at '\(path)' to resume; run without --resume to start a new run")
        }
        let db: SQLiteDatabase
        do {
            db = try SQLiteDatabase(path: path, create: true)
        } catch let error as BatchCoreError {
            throw BatchCoreError(.io, "cannot open the journal: \(error.message); check that its directory exists and is writable, or choose another --checkpoint")
        }
        if exists && info.st_size > 0 { try JournalCheck.verify(db, path: path, output: output) }
        if resume { try JournalCheck.requireRun(db, path: path, output: output) }
        try db.execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
        try Self.createSchema(db)

        let recorded = try Self.meta(db, "configuration")
        let done = try Self.count(db)
        if let recorded, done > 0 || resume {
            guard resume else {
                throw BatchCoreError(.state,
                    "the journal '\(path)' already holds a run (\(done) documents finished); add --resume to continue it, or delete the journal and add --overwrite to start over")
            }
            if let old = RunConfiguration.parse(recorded) {
                let differences = configuration.differences(from: old)
                if !differences.isEmpty && !force {
                    throw BatchCoreError(.state,
                        "cannot resume '\(path)': this run differs from the journal's: " + differences.joined(separator: "; ")
                        + ". Run as recorded, or add --force-resume to continue anyway")
                }
            }
        }
        self.configuration = configuration
        replacesConfiguration = recorded == nil || force || done == 0
        isNew = recorded == nil
        // What earlier runs spent: their documents, and their stages' prepare calls.
        let spent = try db.prepare(
            "SELECT coalesce(sum(cost_usd), 0) + (SELECT coalesce(sum(cost_usd), 0) FROM prepared), count(*) FROM documents")
        spentBefore = try spent.step() ? (spent.double(0), UInt64(spent.int(1))) : (0, 0)
        writerDB = db

        readerDB = try SQLiteDatabase(path: path, readOnly: true)
        statusLookup = try readerDB.prepare("SELECT status FROM documents WHERE id = ?")
        hashLookup = try readerDB.prepare(
            "SELECT id, status, output, output_json, attempts FROM documents WHERE content_hash = ? AND status IN (1, 2) LIMIT 1")
        failedLookup = try readerDB.prepare(
            "SELECT path, metadata, attempts FROM documents WHERE id = ? AND status = \(DocumentStatus.failed.rawValue) AND run = ?")
    }

    /// Records this run in the journal. Called once the output has been
    /// checked too, so a run refused at start leaves no trace.
    public func beginRun() throws {
        let db = writerDB
        try db.transaction {
            if replacesConfiguration { try Self.setMeta(db, "configuration", configuration.json) }
            if isNew {
                try Self.setMeta(db, "format_version", Self.formatVersion)
                try Self.setMeta(db, "created_at", String(Date().timeIntervalSince1970))
            }
            try db.prepare("INSERT INTO runs (started_at, state) VALUES (?, 'running')")
                .bind(.double(Date().timeIntervalSince1970)).run()
        }
        run = sqlite3_last_insert_rowid(db.handle)
    }

    static func createSchema(_ db: SQLiteDatabase) throws {
        try db.execute("""
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS runs (
                run INTEGER PRIMARY KEY, started_at REAL NOT NULL, ended_at REAL,
                state TEXT NOT NULL, processed INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE IF NOT EXISTS documents (
                id TEXT PRIMARY KEY,
                out_seq INTEGER NOT NULL,
                path TEXT,
                metadata TEXT NOT NULL DEFAULT '{}',
                status INTEGER NOT NULL,
                attempts INTEGER NOT NULL,
                error TEXT,
                failed_stage INTEGER,
                failed_stage_label TEXT,
                output BLOB,
                output_json INTEGER NOT NULL DEFAULT 0,
                input_tokens INTEGER NOT NULL DEFAULT 0,
                output_tokens INTEGER NOT NULL DEFAULT 0,
                units INTEGER NOT NULL DEFAULT 0,
                cost_usd REAL NOT NULL DEFAULT 0,
                duration_ms REAL NOT NULL DEFAULT 0,
                content_hash TEXT,
                duplicate_of TEXT,
                finished_at REAL NOT NULL,
                run INTEGER NOT NULL);
            CREATE INDEX IF NOT EXISTS documents_out_seq ON documents(out_seq);
            CREATE INDEX IF NOT EXISTS documents_status ON documents(status, id);
            CREATE INDEX IF NOT EXISTS documents_hash ON documents(content_hash) WHERE content_hash IS NOT NULL;
            """ + JournalRows.attemptsSchema)
        try db.execute(PreparedResults.schema)
        // Journals written before usage was priced lack these columns.
        let columns = try db.prepare("SELECT name FROM pragma_table_info('documents')")
        var present = Set<String>()
        while try columns.step() { present.insert(columns.text(0) ?? "") }
        // source_version: a remote document's ETag or Last-Modified when fetched.
        for (name, type) in [("units", "INTEGER NOT NULL DEFAULT 0"), ("cost_usd", "REAL NOT NULL DEFAULT 0"),
                             ("source_version", "TEXT")]
        where !present.contains(name) {
            try db.execute("ALTER TABLE documents ADD COLUMN \(name) \(type)")
        }
    }

    /// Removes the failed documents' rows (they run again), keeping the
    /// highest `out_seq` so that it is never given again: a sink's mark
    /// means "every row up to here", and a reused number would hide a row.
    static func forgetFailed(_ db: SQLiteDatabase) throws {
        try db.execute("""
            INSERT INTO meta (key, value) SELECT '\(lastSeqKey)', max(out_seq) FROM documents HAVING max(out_seq) IS NOT NULL
                ON CONFLICT(key) DO UPDATE SET value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER));
            DELETE FROM documents WHERE status = \(DocumentStatus.failed.rawValue);
            """)
    }

    /// The highest `out_seq` given, once rows were removed.
    static let lastSeqKey = "last_out_seq"

    static func meta(_ db: SQLiteDatabase, _ key: String) throws -> String? {
        let statement = try db.prepare("SELECT value FROM meta WHERE key = ?").bind(.text(key))
        return try statement.step() ? statement.text(0) : nil
    }

    static func setMeta(_ db: SQLiteDatabase, _ key: String, _ value: String) throws {
        try db.prepare("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
            .bind(.text(key), .text(value)).run()
    }

    static func count(_ db: SQLiteDatabase) throws -> Int64 {
        let statement = try db.prepare("SELECT count(*) FROM documents")
        return try statement.step() ? statement.int(0) : 0
    }

    /// Closes both connections (SQLite then removes the WAL files) and
    /// lets go of the journal.
    public func close() {
        writer = nil
        readerLock.withLock {
            statusLookup = nil
            hashLookup = nil
            failedLookup = nil
            readerDB.close()
        }
        writerDB.close()
        lock.release()
    }

    /// Final status recorded for `id`, if any.
    public func status(of id: String) -> DocumentStatus? {
        readerLock.withLock {
            guard let statusLookup else { return nil }
            statusLookup.bind(.text(id))
            defer { statusLookup.reset() }
            guard (try? statusLookup.step()) == true else { return nil }
            return DocumentStatus(rawValue: Int32(statusLookup.int(0)))
        }
    }

    /// The ETag or Last-Modified of the remote document `id` when its
    /// committed result was made, if recorded.
    public func sourceVersion(of id: String) -> String? {
        readerLock.withLock {
            guard statusLookup != nil,
                  let lookup = try? readerDB.prepare("SELECT source_version FROM documents WHERE id = ?").bind(.text(id)),
                  (try? lookup.step()) == true else { return nil }
            return lookup.text(0)
        }
    }

    /// A finished (ok or partial) document with this content hash.
    public func firstResult(withHash hash: String) -> StoredResult? {
        readerLock.withLock {
            guard let hashLookup else { return nil }
            hashLookup.bind(.text(hash))
            defer { hashLookup.reset() }
            guard (try? hashLookup.step()) == true, let id = hashLookup.text(0),
                  let status = DocumentStatus(rawValue: Int32(hashLookup.int(1))) else { return nil }
            return StoredResult(id: id, status: status, output: hashLookup.blob(2), outputIsJSON: hashLookup.int(3) != 0)
        }
    }

    public func takeFailedForRetry(_ id: String) -> RetryCandidate? {
        let candidate: RetryCandidate? = readerLock.withLock {
            guard let failedLookup else { return nil }
            failedLookup.bind(.text(id), .int(run))
            defer { failedLookup.reset() }
            guard (try? failedLookup.step()) == true else { return nil }
            return RetryCandidate(document: Document(id: id, path: failedLookup.text(0), metadata: failedLookup.text(1) ?? "{}"),
                                  attempts: Int(failedLookup.int(2)))
        }
        guard let candidate, retrying.withLock({ $0.insert(id).inserted }) else { return nil }
        return candidate
    }

    public func commit(_ group: [DocumentResult], output: OutputPosition?) throws {
        if writer == nil { writer = try JournalCommitter(writerDB) }
        try writer!.commit(group, output: output, run: run, supersedesLines: supersedesFailedResults(group))
    }

    /// Does `group` hold new results of documents taken to run again? Their
    /// failed results' lines are still in the output.
    private func supersedesFailedResults(_ group: [DocumentResult]) -> Bool {
        retrying.withLock { taken in
            guard !taken.isEmpty else { return false }
            var found = false
            for result in group where taken.remove(result.document.id) != nil { found = true }
            return found
        }
    }

    public func endRun(state: String) throws {
        try writerDB.prepare("UPDATE runs SET ended_at = ?, state = ? WHERE run = ?")
            .bind(.double(Date().timeIntervalSince1970), .text(state), .int(run)).run()
        try OutputRecovery.dropSupersededLines(self)
        try writerDB.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    }

    public func reportProgress(_ progress: RunProgress) {
        lock.update(progress)
    }
}

/// The statements of a group commit: the rows, the output's offset and the
/// run's count in one transaction.
private struct JournalCommitter {
    let db: SQLiteDatabase
    let insert: SQLiteStatement
    let setOffset: SQLiteStatement
    let countProcessed: SQLiteStatement
    let insertAttempt: SQLiteStatement
    var nextSeq: Int64

    init(_ db: SQLiteDatabase) throws {
        self.db = db
        insert = try db.prepare(JournalRows.insert)
        setOffset = try db.prepare(
            "INSERT INTO meta (key, value) VALUES ('output_offset', ?), ('output_path', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
        countProcessed = try db.prepare("UPDATE runs SET processed = processed + ? WHERE run = ?")
        insertAttempt = try db.prepare(JournalRows.insertAttempt)
        let max = try db.prepare("""
            SELECT max(coalesce((SELECT max(out_seq) FROM documents), 0),
                       coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = '\(Journal.lastSeqKey)'), 0))
            """)
        nextSeq = try max.step() ? max.int(0) + 1 : 1
    }

    /// `supersedesLines`: the group holds new results of documents whose
    /// earlier lines are still in the output, which must be rewritten
    /// (see `OutputRecovery.dropSupersededLines`).
    mutating func commit(_ group: [DocumentResult], output: OutputPosition?, run: Int64, supersedesLines: Bool) throws {
        let now = Date().timeIntervalSince1970
        var seq = nextSeq
        try db.transaction {
            for result in group {
                JournalRows.bindInsert(insert, result, seq: seq, run: run, now: now)
                try insert.run()
                seq += 1
                guard result.keepsHistory else { continue }
                for attempt in result.history {
                    JournalRows.bindAttempt(insertAttempt, attempt, id: result.document.id, run: run)
                    try insertAttempt.run()
                }
            }
            if let output {
                setOffset.bind(.text(String(output.offset)), .text(output.path))
                try setOffset.run()
                if supersedesLines { try Journal.setMeta(db, OutputRecovery.supersededKey, "1") }
            }
            countProcessed.bind(.int(Int64(group.count)), .int(run))
            try countProcessed.run()
        }
        nextSeq = seq
    }
}
