/// Pages of documents and failures grouped by error, read from a journal
/// while its run goes on or after it: what a status page asks.
extension JournalReader {
    /// Which documents a page holds. Pages follow the id (keyset): `after`
    /// is the last id of the previous page.
    public struct DocumentFilter: Sendable {
        public var status: DocumentStatus? = nil
        /// The label of the stage that failed.
        public var stage: String? = nil
        /// A substring of the id, path or error.
        public var text: String? = nil
        public var after: String? = nil
        public var limit = 100

        public init() {}
    }

    /// Up to `filter.limit` documents in id order; the output is not read.
    public func documents(_ filter: DocumentFilter) throws -> [DocumentResult] {
        var conditions: [String] = []
        var values: [SQLiteValue] = []
        if let status = filter.status {
            conditions.append("status = ?")
            values.append(.int(Int64(status.rawValue)))
        }
        if let stage = filter.stage {
            conditions.append("failed_stage_label = ?")
            values.append(.text(stage))
        }
        if let text = filter.text, !text.isEmpty {
            conditions.append("(instr(id, ?1) > 0 OR instr(coalesce(path, ''), ?1) > 0 OR instr(coalesce(error, ''), ?1) > 0)"
                .replacingPlaceholder(values.count + 1))
            values.append(.text(text))
        }
        if let after = filter.after {
            conditions.append("id > ?")
            values.append(.text(after))
        }
        values.append(.int(Int64(max(1, filter.limit))))
        let filterSQL = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let columns = JournalRows.columns.replacingOutputWithNull
        let statement = try db.prepare("SELECT \(columns) FROM documents \(filterSQL) ORDER BY id LIMIT ?").bind(values)
        var page: [DocumentResult] = []
        while try statement.step() { page.append(JournalRows.result(statement)) }
        return page
    }

    /// One document's row (its last attempt), with its output.
    public func document(id: String) throws -> DocumentResult? {
        let statement = try db.prepare("SELECT \(JournalRows.columns) FROM documents WHERE id = ?").bind(.text(id))
        return try statement.step() ? JournalRows.result(statement) : nil
    }

    /// Every call of a document, in order (empty when it has not finished).
    /// A document that succeeded at its first attempt has one, told by its
    /// documents row (its worker unknown: empty).
    public func attempts(of id: String) throws -> [AttemptRecord] {
        var history: [AttemptRecord] = []
        if try hasAttemptsTable() {
            let rows = try db.prepare("SELECT \(JournalRows.attemptColumns) FROM attempts WHERE id = ? ORDER BY rowid").bind(.text(id))
            while try rows.step() { history.append(JournalRows.attempt(rows)) }
        }
        guard history.isEmpty else { return history }
        let row = try db.prepare("SELECT attempts, finished_at, duration_ms, status, error FROM documents WHERE id = ?").bind(.text(id))
        guard try row.step() else { return [] }
        let status = DocumentStatus(rawValue: Int32(row.int(3))) ?? .failed
        return [AttemptRecord(attempt: max(1, Int(row.int(0))), stage: "", startedAt: row.double(1) - row.double(2) / 1000,
                              worker: "", durationMs: row.double(2), outcome: status.name, error: row.text(4), stderr: nil)]
    }

    /// Journals written before attempts were recorded have no such table.
    private func hasAttemptsTable() throws -> Bool {
        let found = try db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'attempts'")
        return try found.step()
    }

    /// The ids of the failed documents, of one failure group (`stage` and
    /// `error`) or all of them, in id order.
    public func failedIDs(stage: String?, error: String?, all: Bool) throws -> [String] {
        let failed = Int64(DocumentStatus.failed.rawValue)
        let statement = all
            ? try db.prepare("SELECT id FROM documents WHERE status = ? ORDER BY id").bind(.int(failed))
            : try db.prepare("SELECT id FROM documents WHERE status = ? AND failed_stage_label IS ? AND error IS ? ORDER BY id")
                .bind(.int(failed), .optionalText(stage), .optionalText(error))
        var ids: [String] = []
        while try statement.step() { ids.append(statement.text(0) ?? "") }
        return ids
    }

    /// Failed documents grouped by stage and error, largest groups first.
    public func failureGroups(limit: Int = 20, examples: Int = 3) throws -> [FailureGroup] {
        let failed = Int64(DocumentStatus.failed.rawValue)
        let groups = try db.prepare("""
            SELECT failed_stage_label, error, count(*) FROM documents WHERE status = ?
            GROUP BY failed_stage_label, error ORDER BY count(*) DESC, error LIMIT ?
            """).bind(.int(failed), .int(Int64(limit)))
        let sample = try db.prepare(
            "SELECT id FROM documents WHERE status = ? AND failed_stage_label IS ? AND error IS ? ORDER BY id LIMIT ?")
        var found: [FailureGroup] = []
        while try groups.step() {
            var group = FailureGroup(stage: groups.text(0), error: groups.text(1) ?? "", count: UInt64(groups.int(2)))
            sample.bind(.int(failed), .optionalText(group.stage), .optionalText(groups.text(1)), .int(Int64(examples)))
            while try sample.step() { group.exampleIDs.append(sample.text(0) ?? "") }
            found.append(group)
        }
        return found
    }
}

/// Failed documents that share a stage and an error message.
public struct FailureGroup: Sendable, Equatable {
    public var stage: String?
    public var error: String
    public var count: UInt64
    public var exampleIDs: [String] = []

    public init(stage: String?, error: String, count: UInt64, exampleIDs: [String] = []) {
        self.stage = stage
        self.error = error
        self.count = count
        self.exampleIDs = exampleIDs
    }
}

private extension String {
    /// `?1` made `?N`, for a parameter used more than once.
    func replacingPlaceholder(_ n: Int) -> String {
        split(separator: "?1", omittingEmptySubsequences: false).joined(separator: "?\(n)")
    }

    /// A column list with the output column read as NULL.
    var replacingOutputWithNull: String {
        split(separator: " output,", omittingEmptySubsequences: false).joined(separator: " NULL,")
    }
}
