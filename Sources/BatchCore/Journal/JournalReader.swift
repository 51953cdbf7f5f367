import FoundationEssentials
import Glibc

/// Reads a journal without changing it: `batchhost status`, `failed`,
/// `export` and the C API's bc_journal_* functions.
public final class JournalReader: @unchecked Sendable {
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
        public var state: String
        public var processed: Int64
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
        public var lastErrors: [(id: String, error: String)] = []
        public var configuration: RunConfiguration? = nil

        public var finished: Int64 { ok + partial + failed + skipped }

        /// Documents per hour over the time the runs were running.
        public var docsPerHour: Double {
            let seconds = runs.reduce(0.0) { $0 + (($1.endedAt ?? $1.startedAt) - $1.startedAt) }
            let processed = runs.reduce(0) { $0 + $1.processed }
            return seconds > 0 ? Double(processed) / seconds * 3600 : 0
        }
    }

    public func summary(lastErrors limit: Int = 10) throws -> Summary {
        var s = Summary()
        let counts = try db.prepare("""
            SELECT status, count(*), sum(attempts), sum(input_tokens), sum(output_tokens), sum(units), sum(cost_usd)
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
            s.inputTokens += counts.int(3)
            s.outputTokens += counts.int(4)
            s.units += counts.int(5)
            s.costUSD += counts.double(6)
        }
        let runs = try db.prepare("SELECT run, started_at, ended_at, state, processed FROM runs ORDER BY run")
        while try runs.step() {
            s.runs.append(Run(number: runs.int(0), startedAt: runs.double(1),
                              endedAt: runs.isNull(2) ? nil : runs.double(2),
                              state: runs.text(3) ?? "", processed: runs.int(4)))
        }
        let errors = try db.prepare("""
            SELECT id, coalesce(error, '') FROM documents WHERE status = \(DocumentStatus.failed.rawValue)
            ORDER BY out_seq DESC LIMIT ?
            """).bind(.int(Int64(limit)))
        while try errors.step() { s.lastErrors.append((errors.text(0) ?? "", errors.text(1) ?? "")) }
        s.configuration = try Journal.meta(db, "configuration").flatMap(RunConfiguration.parse)
        return s
    }

    /// Results in output order, optionally only those with `status`;
    /// streamed from the journal, never all in memory.
    public func results(status: DocumentStatus? = nil) throws -> JournalCursor {
        let filter = status.map { "WHERE status = \($0.rawValue)" } ?? ""
        return JournalCursor(try db.prepare("SELECT \(JournalRows.columns) FROM documents \(filter) ORDER BY out_seq"))
    }

    public enum ExportFormat: String, CaseIterable, Sendable { case jsonl, json, csv }

    /// Writes the results (optionally only those with `status`) to `path` ("-" for stdout).
    public func export(to path: String, format: ExportFormat, status: DocumentStatus? = nil) throws {
        let out = try OutputWriter(path: path)
        let cursor = try results(status: status)
        var first = true
        if format == .json { _ = out.write(lines: Array("[\n".utf8)) }
        if format == .csv { _ = out.write(lines: Array(CSV.header.utf8)) }
        while let result = try cursor.next() {
            var line: [UInt8]
            switch format {
            case .jsonl: line = OutputWriter.line(for: result)
            case .json:
                line = first ? [] : Array(",\n".utf8)
                line += OutputWriter.line(for: result).dropLast()
            case .csv: line = Array(CSV.row(result).utf8)
            }
            first = false
            if let error = out.write(lines: line) { throw error }
        }
        if format == .json { _ = out.write(lines: Array((first ? "]\n" : "\n]\n").utf8)) }
        if let error = out.flush() { throw error }
    }
}

/// A streaming cursor over journal rows.
public final class JournalCursor: @unchecked Sendable {
    private let statement: SQLiteStatement
    init(_ statement: SQLiteStatement) { self.statement = statement }

    public func next() throws -> DocumentResult? {
        try statement.step() ? JournalRows.result(statement) : nil
    }
}

/// RFC 4180 CSV for exports.
enum CSV {
    static let header = "id,path,status,attempts,error,failed_stage,duration_ms,input_tokens,output_tokens,output\r\n"

    static func row(_ r: DocumentResult) -> String {
        let output = r.output.map { String(decoding: $0, as: UTF8.self) } ?? ""
        let fields = [r.document.id, r.document.path ?? "", r.status.name, String(r.attempts), r.error ?? "",
                      r.failedStageLabel ?? "", String(r.durationMs), String(r.inputTokens), String(r.outputTokens), output]
        return fields.map(quote).joined(separator: ",") + "\r\n"
    }

    static func quote(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\""
    }
}
