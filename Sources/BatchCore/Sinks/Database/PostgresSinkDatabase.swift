/// A sink into PostgreSQL through libpq (loaded on demand, see `LibPQ`).
/// A batch of rows new to the table is one COPY straight into it (two round
/// trips). Once a batch holds an id the table has (a resume, a document run
/// again), the COPY is refused whole and every batch from then on is one
/// transaction: COPY into a temporary staging table, then one `INSERT …
/// SELECT … ON CONFLICT (id) DO UPDATE` into the table (three round trips) —
/// COPY's speed with an upsert's idempotence. Credentials come from the URL,
/// PGPASSWORD or ~/.pgpass (libpq's own rules); messages name the URL
/// without its password.
final class PostgresSinkDatabase: SinkDatabase {
    private let pq: LibPQ
    private let url: SinkURL
    private var conn: LibPQ.Conn? = nil
    /// The staging table exists in this connection's session.
    private var staged = false
    /// No batch met an id the table already has: COPY straight into it.
    private var copiesDirectly = true
    /// The SQLSTATE of the last failure.
    private var lastState: String? = nil

    init(_ url: SinkURL) throws {
        pq = try LibPQ.load()
        self.url = url
        try connect()
    }

    deinit { pq.finish(conn) }

    func prepareTable(_ table: String, columns: [SinkColumn]) throws {
        let present = try query("SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = '\(table)'")
        if present.isEmpty {
            let definitions = columns.map { "\($0.name) \(Self.type(of: $0.kind))" + ($0.name == "id" ? " PRIMARY KEY" : "") }
            try execute("CREATE TABLE IF NOT EXISTS \(table) (\(definitions.joined(separator: ", ")))")
            return
        }
        let missing = columns.map(\.name).filter { !present.contains($0) }
        let key = try query("""
            SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
            WHERE i.indrelid = '\(table)'::regclass AND i.indisprimary
            """)
        guard missing.isEmpty, key == ["id"] else {
            let what = missing.isEmpty ? "its id column is not its primary key"
                : "it lacks the column\(missing.count == 1 ? "" : "s") " + missing.joined(separator: ", ")
            throw SinkFailure.permanent("sink \(url.display): the table '\(table)' exists but \(what); drop or rename it, or name another table (?table=NAME)")
        }
    }

    func upsert(_ rows: [[SinkValue]], table: String, columns: [SinkColumn]) throws {
        let names = columns.map(\.name).joined(separator: ", ")
        let data = Self.copyText(rows)
        if copiesDirectly {
            do {
                return try copy(data, command: "COPY \(table) (\(names)) FROM STDIN")
            } catch SinkFailure.permanent where lastState == Self.uniqueViolation {
                copiesDirectly = false  // nothing was written: the whole COPY is refused
            }
        }
        try upsertThroughStaging(data, table: table, columns: columns)
    }

    private static let uniqueViolation = "23505"

    private func upsertThroughStaging(_ data: [UInt8], table: String, columns: [SinkColumn]) throws {
        let names = columns.map(\.name).joined(separator: ", ")
        let staging = "batchcore_staging_\(table)"
        let updates = columns.dropFirst().map { "\($0.name) = EXCLUDED.\($0.name)" }.joined(separator: ", ")
        let stage = staged ? "" : "CREATE TEMP TABLE \(staging) ON COMMIT DELETE ROWS AS SELECT \(names) FROM \(table) WITH NO DATA; "
        let wasStaged = staged
        do {
            try copy(data, command: "BEGIN; \(stage)COPY \(staging) (\(names)) FROM STDIN")
            staged = true
            try execute("INSERT INTO \(table) (\(names)) SELECT \(names) FROM \(staging) ON CONFLICT (id) DO UPDATE SET \(updates); COMMIT")
        } catch {
            staged = wasStaged  // a staging table made in this transaction is gone with it
            if conn != nil { pq.clear(pq.exec(conn, "ROLLBACK")) }
            throw error
        }
    }

    private func connect() throws {
        let connection = pq.connectdb(url.database)
        guard pq.status(connection) == LibPQ.connectionOK else {
            let message = pq.errorMessage(connection).map { String(cString: $0) } ?? "unknown error"
            pq.finish(connection)
            throw SinkFailure.transient("sink \(url.display): cannot connect: \(url.hidingPassword(in: message.trimmingSpaces))")
        }
        conn = connection
        staged = false
        try execute("SET client_min_messages = warning")
    }

    private func execute(_ sql: String) throws {
        pq.clear(try run(sql))
    }

    /// The first column of every row.
    private func query(_ sql: String) throws -> [String] {
        let result = try run(sql)
        defer { pq.clear(result) }
        return (0..<pq.ntuples(result)).map { String(cString: pq.getvalue(result, $0, 0)!) }
    }

    /// Runs `command` (ending in a COPY … FROM STDIN: one round trip) and sends it `data`.
    private func copy(_ data: [UInt8], command: String) throws {
        pq.clear(try run(command))
        let sent = data.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { pq.putCopyData(conn, $0.baseAddress!, Int32($0.count)) }
        }
        guard sent == 1, pq.putCopyEnd(conn, nil) == 1 else { throw lostConnection() }
        var failure: Error? = nil
        while let result = pq.getResult(conn) {
            if failure == nil, pq.resultStatus(result) != LibPQ.commandOK { failure = self.failure(result) }
            pq.clear(result)
        }
        if let failure { throw failure }
    }

    /// Rows in COPY's text format.
    private static func copyText(_ rows: [[SinkValue]]) -> [UInt8] {
        var data: [UInt8] = []
        data.reserveCapacity(rows.count * 128)
        for row in rows {
            for (i, value) in row.enumerated() {
                if i > 0 { data.append(0x09) }
                appendCopyText(value, to: &data)
            }
            data.append(0x0A)
        }
        return data
    }

    /// Runs one statement; a failure is sorted as `SinkFailure`.
    private func run(_ sql: String) throws -> LibPQ.Result? {
        if conn == nil { try connect() }
        let result = pq.exec(conn, sql)
        let status = pq.resultStatus(result)
        guard status == LibPQ.commandOK || status == LibPQ.tuplesOK || status == LibPQ.copyIn else {
            defer { pq.clear(result) }
            throw failure(result)
        }
        return result
    }

    /// Connection trouble, a server shutting down, too many clients, a
    /// deadlock: worth another try. Anything else needs someone to fix it.
    private func failure(_ result: LibPQ.Result?) -> SinkFailure {
        let state = pq.resultErrorField(result, LibPQ.diagSQLState).map { String(cString: $0) }
        lastState = state
        let text = (pq.resultErrorMessage(result).map { String(cString: $0) } ?? "").trimmingSpaces
        let message = "sink \(url.display): " + (text.isEmpty ? "the connection was lost" : url.hidingPassword(in: text))
        if pq.status(conn) != LibPQ.connectionOK {
            pq.finish(conn)
            conn = nil
        }
        guard let state, !["08", "53", "57", "40"].contains(where: state.hasPrefix) else {
            return .transient(message)
        }
        return .permanent(message)
    }

    private func lostConnection() -> SinkFailure {
        let message = pq.errorMessage(conn).map { String(cString: $0) } ?? "the connection was lost"
        pq.finish(conn)
        conn = nil
        return .transient("sink \(url.display): \(url.hidingPassword(in: message.trimmingSpaces))")
    }

    private static func type(of kind: SinkColumn.Kind) -> String {
        switch kind {
        case .text: "text"
        case .json: "jsonb"
        case .integer: "bigint"
        case .real: "double precision"
        case .boolean: "boolean"
        case .timestamp: "timestamptz"
        }
    }

    /// COPY's text format: \N for NULL; backslash, tab, newline and carriage return escaped.
    private static func appendCopyText(_ value: SinkValue, to out: inout [UInt8]) {
        switch value {
        case .null: out += [0x5C, 0x4E]
        case .int(let n): out.append(contentsOf: String(n).utf8)
        case .real(let d): out.append(contentsOf: String(d).utf8)
        case .text(let s):
            for byte in s.utf8 {
                switch byte {
                case 0x5C: out += [0x5C, 0x5C]
                case 0x09: out += [0x5C, 0x74]
                case 0x0A: out += [0x5C, 0x6E]
                case 0x0D: out += [0x5C, 0x72]
                default: out.append(byte)
                }
            }
        }
    }
}
