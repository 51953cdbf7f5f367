/// Where a sink writes: `sqlite:///path/to.db?table=results` (a relative
/// path with two slashes, `sqlite://results.db`) or
/// `postgresql://user@host:port/db?table=results` (other parameters go to
/// libpq, e.g. `host=/run/postgresql`). `display` never holds a password:
/// it is what messages and the journal name.
public struct SinkURL: Sendable, Equatable {
    public enum Kind: String, Sendable { case sqlite, postgresql }

    public let kind: Kind
    /// The database: a file path for SQLite, a libpq connection URI for PostgreSQL.
    public let database: String
    public let table: String
    /// The URL without credentials, for messages and the journal.
    public let display: String
    /// Its password(s), to mask in what the database says.
    let passwords: [String]

    public static func parse(_ text: String) throws -> SinkURL {
        guard let schemeEnd = text.range(of: "://") else {
            throw invalid(text, "expected sqlite:///path/to.db?table=NAME")
        }
        var scheme = String(text[..<schemeEnd.lowerBound]).lowercased()
        if scheme == "postgres" { scheme = "postgresql" }
        guard let kind = Kind(rawValue: scheme) else {
            throw invalid(text, "the scheme '\(scheme)' is not a database batchcore writes to; expected sqlite:// or postgresql://")
        }
        let rest = text[schemeEnd.upperBound...]
        let (location, query) = rest.firstIndex(of: "?").map { (rest[..<$0], rest[rest.index(after: $0)...]) } ?? (rest, "")
        var table = "results"
        var passed: [String] = []  // parameters for libpq
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2, parts[0] == "table" {
                table = parts[1]
            } else if kind == .postgresql && parts.count == 2 {
                passed.append(String(pair))
            } else {
                throw invalid(text, "unknown parameter '\(pair)'; the only one is table=NAME")
            }
        }
        guard isIdentifier(table) else {
            throw invalid(text, "the table '\(table)' must be letters, digits and underscores, not starting with a digit")
        }
        guard kind == .postgresql || !location.isEmpty else { throw invalid(text, "no database file: expected sqlite:///path/to.db") }
        let database = kind == .sqlite ? String(location)
            : "postgresql://\(location)" + (passed.isEmpty ? "" : "?" + passed.joined(separator: "&"))
        let full = "\(scheme)://\(location)?" + (passed + ["table=\(table)"]).joined(separator: "&")
        let (shown, passwords) = kind == .postgresql ? SinkPasswords.withoutPassword(full) : (full, [])
        return SinkURL(kind: kind, database: database, table: table, display: shown, passwords: passwords)
    }

    /// `message` (from the database) with this URL's password masked.
    func hidingPassword(in message: String) -> String {
        passwords.reduce(message) { $0.split(separator: $1, omittingEmptySubsequences: false).joined(separator: "***") }
    }

    static func isIdentifier(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { return false }
        return name.utf8.allSatisfy { $0 == UInt8(ascii: "_") || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }
    }

    private static func invalid(_ text: String, _ what: String) -> BatchCoreError {
        BatchCoreError(.option, "sink '\(SinkPasswords.withoutPassword(text).url)': \(what)")
    }
}
