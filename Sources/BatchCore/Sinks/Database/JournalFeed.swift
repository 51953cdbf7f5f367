/// A sink's view of the journal: the committed results after a mark (the
/// journal's `out_seq`, in commit order), and the mark itself, kept in the
/// journal's `meta` table under the sink's URL (without credentials). Its
/// own connection, so the sink's thread never waits on the writer's.
final class JournalFeed {
    private let db: SQLiteDatabase
    private let key: String
    private let batch: String
    private let parseOutput: Bool
    private let select: SQLiteStatement
    private let storeMark: SQLiteStatement?
    /// Every result up to this `out_seq` is in the database.
    private(set) var mark: Int64
    /// The mark as the journal holds it.
    private var recorded: Int64

    /// `recording` false reads from the start and records nothing (an export).
    init(journal path: String, sink: SinkURL, parseOutput: Bool, recording: Bool) throws {
        db = try SQLiteDatabase(path: path, readOnly: !recording)
        // A mark lost with the power is only a batch written again.
        if recording { try db.execute("PRAGMA synchronous=NORMAL") }
        key = "sink " + sink.display
        let file = path.split(separator: "/").last.map(String.init) ?? path
        batch = file.hasSuffix(".journal") ? String(file.dropLast(".journal".count)) : file
        self.parseOutput = parseOutput
        select = try db.prepare(
            "SELECT \(JournalRows.columns), out_seq, finished_at FROM documents WHERE out_seq > ? ORDER BY out_seq LIMIT ?")
        mark = recording ? (try Journal.meta(db, key)).flatMap { Int64($0) } ?? 0 : 0
        recorded = mark
        storeMark = recording ? try db.prepare(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value") : nil
    }

    /// Committed results not yet in the database.
    func unwritten() throws -> Int {
        let count = try db.prepare("SELECT count(*) FROM documents WHERE out_seq > ?").bind(.int(mark))
        return try count.step() ? Int(count.int(0)) : 0
    }

    /// Up to `limit` results after the mark, with the `out_seq` of the last.
    func next(_ limit: Int) throws -> (rows: [SinkRow], last: Int64) {
        select.bind(.int(mark), .int(Int64(limit)))
        defer { select.reset() }
        var rows: [SinkRow] = []
        var last = mark
        while try select.step() {
            rows.append(SinkRow(result: JournalRows.result(select), finishedAt: select.double(Int32(JournalRows.columnCount) + 1), batch: batch,
                                parseOutput: parseOutput))
            last = select.int(Int32(JournalRows.columnCount))
        }
        return (rows, last)
    }

    /// The database holds everything up to `seq` now.
    func advance(to seq: Int64) {
        mark = seq
    }

    /// Records the mark in the journal. Not after every batch: each record
    /// waits for the journal's writer, and a crash only writes again the
    /// rows since the last one, which the upsert makes harmless.
    func recordMark() throws {
        guard let storeMark, recorded != mark else { return }
        storeMark.bind(.text(key), .text(String(mark)))
        try storeMark.run()
        recorded = mark
    }
}
