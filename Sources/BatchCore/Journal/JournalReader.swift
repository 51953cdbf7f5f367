import FoundationEssentials
import Glibc

/// Reads a journal without changing it: `batchhost status`, `failed`,
/// `export` and the C API's bc_journal_* functions.
public final class JournalReader: @unchecked Sendable {  // unchecked: its SQLite connection is used by one thread at a time (a reader is not shared: the C API says "one at a time")
    public let path: String
    let db: SQLiteDatabase

    public init(path: String) throws {
        guard access(path, F_OK) == 0 else {
            throw BatchCoreError(.notFound, "no journal at '\(path)'")
        }
        self.path = path
        db = try SQLiteDatabase(path: path, readOnly: true)
        guard (try? Journal.meta(db, "format_version")) != nil else {
            throw BatchCoreError(.input, "'\(path)' is not a batchcore journal")
        }
    }

    public struct Run: Sendable {
        public var number: Int64
        public var startedAt: Double
        public var endedAt: Double?
        /// running, finished, stopped, interrupted (its process is gone), failed or recovered.
        public var state: String
        public var processed: Int64
        /// When its last document finished.
        public var lastFinishedAt: Double?

        /// How long it ran: to its end, to its last document when its
        /// process died, or until now while it runs.
        public func seconds(now: Double) -> Double {
            let end = state == "running" ? now : endedAt ?? lastFinishedAt ?? startedAt
            return max(0, end - startedAt)
        }
    }

    /// The run holding the journal now, and how it goes.
    public struct Live: Sendable {
        public var pid: Int32
        public var since: Double
        /// Documents in the batch, when its sources know.
        public var total: UInt64?
        public var inFlight: UInt64?
        /// Database sinks waiting for their database.
        public var sinksWaiting: Int
        /// Documents finished per minute over the last minute.
        public var perMinute: Double
        /// Seconds left at that rate, when the total is known.
        public var etaSeconds: Double?
    }

    public struct Summary: Sendable {
        public var ok: Int64 = 0
        public var partial: Int64 = 0
        public var failed: Int64 = 0
        public var skipped: Int64 = 0
        public var attempts: Int64 = 0
        public var inputTokens: Int64 = 0
        public var outputTokens: Int64 = 0
        public var units: Int64 = 0
        public var costUSD = 0.0
        public var runs: [Run] = []
        public var live: Live? = nil
        public var lastErrors: [(id: String, error: String)] = []
        public var configuration: RunConfiguration? = nil
        /// When the summary was taken.
        public var now = 0.0

        public var finished: Int64 { ok + partial + failed + skipped }

        /// Documents per minute over the time the runs ran (recovered runs
        /// ran nowhere); nil under a second, where a rate means nothing.
        public var docsPerMinute: Double? {
            let measured = runs.filter { $0.state != "recovered" }
            let seconds = measured.reduce(0.0) { $0 + $1.seconds(now: now) }
            let processed = measured.reduce(0) { $0 + $1.processed }
            return seconds >= 1 ? Double(processed) / seconds * 60 : nil
        }

        /// The same per hour, for the C API's bc_journal_summary (0 when unmeasured).
        public var docsPerHour: Double { (docsPerMinute ?? 0) * 60 }
    }

    public func summary(lastErrors limit: Int = 10) throws -> Summary {
        var s = Summary()
        s.now = Date().timeIntervalSince1970
        // Token and unit sums saturate (see `Count`); SQLite's sum() would fail.
        let saturated = { (column: String) in "CAST(min(total(\(column)), \(Count.limit)) AS INTEGER)" }
        let counts = try db.prepare("""
            SELECT status, count(*), sum(attempts), \(saturated("input_tokens")), \(saturated("output_tokens")),
                   \(saturated("units")), sum(cost_usd)
            FROM documents GROUP BY status
            """)
        while try counts.step() {
            let n = counts.int(1)
            switch DocumentStatus(rawValue: Int32(counts.int(0))) {
            case .ok: s.ok = n
            case .partial: s.partial = n
            case .failed: s.failed = n
            case .skipped: s.skipped = n
            default: break
            }
            s.attempts += counts.int(2)
            s.inputTokens = Count.sum(s.inputTokens, counts.int(3))
            s.outputTokens = Count.sum(s.outputTokens, counts.int(4))
            s.units = Count.sum(s.units, counts.int(5))
            s.costUSD += counts.double(6)
        }
        s.runs = try runs()
        s.live = try live(s)
        if s.live == nil, let last = s.runs.indices.last, s.runs[last].state == "running" {
            s.runs[last].state = "interrupted"
        }
        let errors = try db.prepare("""
            SELECT id, coalesce(error, '') FROM documents WHERE status = \(DocumentStatus.failed.rawValue)
            ORDER BY out_seq DESC LIMIT ?
            """).bind(.int(Int64(limit)))
        while try errors.step() { s.lastErrors.append((errors.text(0) ?? "", errors.text(1) ?? "")) }
        s.configuration = try Journal.meta(db, "configuration").flatMap(RunConfiguration.parse)
        return s
    }

    /// The runs; any but the last still marked running died without saying.
    private func runs() throws -> [Run] {
        let rows = try db.prepare("""
            SELECT run, started_at, ended_at, state, processed,
                   (SELECT max(finished_at) FROM documents WHERE documents.run = runs.run)
            FROM runs ORDER BY run
            """)
        var runs: [Run] = []
        while try rows.step() {
            runs.append(Run(number: rows.int(0), startedAt: rows.double(1),
                            endedAt: rows.isNull(2) ? nil : rows.double(2),
                            state: rows.text(3) ?? "", processed: rows.int(4),
                            lastFinishedAt: rows.isNull(5) ? nil : rows.double(5)))
        }
        for i in runs.indices.dropLast() where runs[i].state == "running" { runs[i].state = "interrupted" }
        return runs
    }

    /// The live run, when a process holds the journal and its last run runs.
    private func live(_ s: Summary) throws -> Live? {
        guard let run = s.runs.last, run.state == "running", let owner = JournalLock.owner(ofJournal: path) else { return nil }
        let window = min(60, s.now - run.startedAt)
        let recent = try db.prepare("SELECT count(*) FROM documents WHERE run = ? AND finished_at >= ?")
            .bind(.int(run.number), .double(s.now - window))
        let perMinute = try recent.step() && window > 0 ? Double(recent.int(0)) / window * 60 : 0
        let left = owner.total.map { max(0, Double($0) - Double(s.finished)) }
        return Live(pid: owner.pid, since: owner.since, total: owner.total, inFlight: owner.inFlight,
                    sinksWaiting: owner.sinksWaiting ?? 0, perMinute: perMinute, etaSeconds: left.flatMap { perMinute > 0 ? $0 / perMinute * 60 : nil })
    }

    /// Results in output order, optionally only those with `status`;
    /// streamed from the journal, never all in memory.
    public func results(status: DocumentStatus? = nil) throws -> JournalCursor {
        let filter = status.map { "WHERE status = \($0.rawValue)" } ?? ""
        return JournalCursor(try db.prepare("SELECT \(JournalRows.columns) FROM documents \(filter) ORDER BY out_seq"))
    }

    /// The formats `export` writes, by the name users give.
    public enum ExportFormat: String, CaseIterable, Sendable {
        case jsonl, json, csv

        public var format: any ResultFormat {
            switch self {
            case .jsonl: JSONLFormat()
            case .json: JSONArrayFormat()
            case .csv: CSVFormat()
            }
        }
    }

    /// Writes the results (optionally only those with `status`) to `path` ("-" for stdout).
    public func export(to path: String, format name: ExportFormat, status: DocumentStatus? = nil) throws {
        let format = name.format
        let out = try OutputWriter(path: path)
        let cursor = try results(status: status)
        var empty = true
        _ = out.write(lines: format.header)
        while let result = try cursor.next() {
            let record = format.record(for: result)
            if let error = out.write(lines: empty ? record : format.separator + record) { throw error }
            empty = false
        }
        _ = out.write(lines: format.footer(empty: empty))
        if let error = out.flush() { throw error }
    }
}

/// A streaming cursor over journal rows.
public final class JournalCursor: @unchecked Sendable {  // unchecked: its statement is stepped by one thread at a time, like its reader
    private let statement: SQLiteStatement
    init(_ statement: SQLiteStatement) { self.statement = statement }

    public func next() throws -> DocumentResult? {
        try statement.step() ? JournalRows.result(statement) : nil
    }
}
