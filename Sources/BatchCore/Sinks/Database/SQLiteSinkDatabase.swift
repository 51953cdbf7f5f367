import CSQLite

/// A sink into a SQLite database file (created when missing): one
/// prepared upsert run per row inside one transaction per batch, which in
/// SQLite costs what a multi-row statement does.
final class SQLiteSinkDatabase: SinkDatabase {
    private let url: SinkURL
    private let db: SQLiteDatabase
    private var upsertStatement: SQLiteStatement? = nil

    init(_ url: SinkURL) throws {
        self.url = url
        do {
            db = try SQLiteDatabase(path: url.database, create: true)
            // A locked database is retried by the sink, with backoff, not here at length.
            sqlite3_busy_timeout(db.handle, 500)
            try db.execute("PRAGMA journal_mode=WAL")
        } catch let error as BatchCoreError {
            throw SinkFailure.permanent("sink \(url.display): cannot open the database: \(error.message)")
        }
    }

    func prepareTable(_ table: String, columns: [SinkColumn]) throws {
        let info = try run { try db.prepare("SELECT name, pk FROM pragma_table_info('\(table)')") }
        var present: [String: Bool] = [:]
        while try run({ try info.step() }) { present[info.text(0) ?? ""] = info.int(1) == 1 }
        if present.isEmpty {
            let definitions = columns.map { "\($0.name) \(Self.type(of: $0.kind))" + ($0.name == "id" ? " PRIMARY KEY" : "") }
            try run { try db.execute("CREATE TABLE IF NOT EXISTS \(table) (\(definitions.joined(separator: ", ")))") }
            return
        }
        let missing = columns.map(\.name).filter { present[$0] == nil }
        guard missing.isEmpty, present["id"] == true else {
            let what = missing.isEmpty ? "its id column is not its primary key"
                : "it lacks the column\(missing.count == 1 ? "" : "s") " + missing.joined(separator: ", ")
            throw SinkFailure.permanent("sink \(url.display): the table '\(table)' exists but \(what); drop or rename it, or name another table (?table=NAME)")
        }
    }

    func upsert(_ rows: [[SinkValue]], table: String, columns: [SinkColumn]) throws {
        if upsertStatement == nil {
            let names = columns.map(\.name)
            let updates = names.dropFirst().map { "\($0) = excluded.\($0)" }.joined(separator: ", ")
            upsertStatement = try run {
                try db.prepare("INSERT INTO \(table) (\(names.joined(separator: ", "))) VALUES (\(names.map { _ in "?" }.joined(separator: ", "))) ON CONFLICT(id) DO UPDATE SET \(updates)")
            }
        }
        let statement = upsertStatement!
        try run { try db.execute("BEGIN IMMEDIATE") }
        do {
            for row in rows {
                statement.bind(row.map(Self.sqliteValue))
                try run { try statement.run() }
            }
            try run { try db.execute("COMMIT") }
        } catch {
            statement.reset()
            try? db.execute("ROLLBACK")
            throw error
        }
    }

    private static func type(of kind: SinkColumn.Kind) -> String {
        switch kind {
        case .text, .json, .timestamp: "TEXT"
        case .integer, .boolean: "INTEGER"
        case .real: "REAL"
        }
    }

    private static func sqliteValue(_ value: SinkValue) -> SQLiteValue {
        switch value {
        case .null: .null
        case .int(let n): .int(n)
        case .real(let d): .double(d)
        case .text(let s): .text(s)
        }
    }

    /// Runs a database call, sorting its failure: busy or locked is worth
    /// another try, anything else (no such table, read-only, …) is not.
    private func run<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch is BatchCoreError {
            let code = sqlite3_errcode(db.handle) & 0xFF
            let message = "sink \(url.display): " + db.errorMessage
            if code == SQLITE_BUSY || code == SQLITE_LOCKED || code == SQLITE_IOERR || code == SQLITE_FULL {
                throw SinkFailure.transient(message)
            }
            throw SinkFailure.permanent(message)
        }
    }
}
