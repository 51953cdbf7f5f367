import FoundationEssentials

/// Mapping between `DocumentResult` and rows of the `documents` table.
enum JournalRows {
    static let columns = """
        id, path, metadata, status, attempts, error, failed_stage, failed_stage_label, \
        output, output_json, input_tokens, output_tokens, duration_ms, content_hash, duplicate_of, \
        units, cost_usd, source_version
        """

    /// How many `columns` there are: the index of the first one selected after them.
    static let columnCount = columns.split(separator: ",").count

    static let insert = """
        INSERT INTO documents (out_seq, \(columns), finished_at, run)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT(id) DO UPDATE SET
            out_seq = excluded.out_seq, path = excluded.path, metadata = excluded.metadata,
            status = excluded.status, attempts = excluded.attempts, error = excluded.error,
            failed_stage = excluded.failed_stage, failed_stage_label = excluded.failed_stage_label,
            output = excluded.output, output_json = excluded.output_json,
            input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens,
            duration_ms = excluded.duration_ms, content_hash = excluded.content_hash,
            duplicate_of = excluded.duplicate_of, units = excluded.units, cost_usd = excluded.cost_usd,
            source_version = excluded.source_version,
            finished_at = excluded.finished_at, run = excluded.run
        """

    static func bindInsert(_ statement: SQLiteStatement, _ r: DocumentResult, seq: Int64, run: Int64, now: Double) {
        statement.bind(
            .int(seq), .text(r.document.id), .optionalText(r.document.path), .text(r.document.metadata),
            .int(Int64(r.status.rawValue)), .int(Int64(r.attempts)), .optionalText(r.error),
            r.failedStage.map { .int(Int64($0)) } ?? .null, .optionalText(r.failedStageLabel),
            r.output.map { .blob($0) } ?? .null, .int(r.outputIsJSON ? 1 : 0),
            .int(Int64(bitPattern: r.inputTokens)), .int(Int64(bitPattern: r.outputTokens)),
            .double(r.durationMs), .optionalText(r.contentHash), .optionalText(r.duplicateOf),
            .int(Int64(bitPattern: r.units)), .double(r.costUSD), .optionalText(r.sourceVersion),
            .double(now), .int(run))
    }

    /// Reads a row selected with `columns` (in that order).
    static func result(_ s: SQLiteStatement) -> DocumentResult {
        DocumentResult(
            document: Document(id: s.text(0) ?? "", path: s.text(1), metadata: s.text(2) ?? "{}"),
            status: DocumentStatus(rawValue: Int32(s.int(3))) ?? .failed,
            output: s.blob(8),
            outputIsJSON: s.int(9) != 0,
            error: s.text(5),
            attempts: Int(s.int(4)),
            failedStage: s.isNull(6) ? nil : Int(s.int(6)),
            failedStageLabel: s.text(7),
            durationMs: s.double(12),
            inputTokens: UInt64(bitPattern: s.int(10)),
            outputTokens: UInt64(bitPattern: s.int(11)),
            units: UInt64(bitPattern: s.int(15)),
            costUSD: s.double(16),
            contentHash: s.text(13),
            duplicateOf: s.text(14),
            sourceVersion: s.text(17))
    }

    // MARK: Attempts

    /// Every call of a document that needed more than one or failed; a
    /// document that succeeded at its first attempt has no rows: its
    /// documents row tells that attempt. Ordered by rowid.
    static let attemptsSchema = """
        CREATE TABLE IF NOT EXISTS attempts (
            id TEXT NOT NULL, attempt INTEGER NOT NULL, stage TEXT NOT NULL, started_at REAL NOT NULL,
            worker TEXT NOT NULL, duration_ms REAL NOT NULL, outcome TEXT NOT NULL, error TEXT, stderr TEXT,
            run INTEGER NOT NULL);
        CREATE INDEX IF NOT EXISTS attempts_id ON attempts(id);
        """

    static let attemptColumns = "attempt, stage, started_at, worker, duration_ms, outcome, error, stderr"

    static let insertAttempt = "INSERT INTO attempts (id, \(attemptColumns), run) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

    /// Does the result's history go to the attempts table?
    static func keepsHistory(_ r: DocumentResult) -> Bool {
        AttemptRecord.isKept(failed: r.status == .failed, attempts: r.attempts, calls: r.history.count)
    }

    static func bindAttempt(_ statement: SQLiteStatement, _ a: AttemptRecord, id: String, run: Int64) {
        statement.bind(.text(id), .int(Int64(a.attempt)), .text(a.stage), .double(a.startedAt), .text(a.worker),
                       .double(a.durationMs), .text(a.outcome), .optionalText(a.error), .optionalText(a.stderr), .int(run))
    }

    /// Reads a row selected with `attemptColumns`.
    static func attempt(_ s: SQLiteStatement) -> AttemptRecord {
        AttemptRecord(attempt: Int(s.int(0)), stage: s.text(1) ?? "", startedAt: s.double(2), worker: s.text(3) ?? "",
                      durationMs: s.double(4), outcome: s.text(5) ?? "", error: s.text(6), stderr: s.text(7))
    }
}
