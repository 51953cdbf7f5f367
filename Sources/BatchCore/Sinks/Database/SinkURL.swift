/// Where a sink writes: `sqlite:///path/to.db?table=results` (a relative
/// path with two slashes, `sqlite://results.db`) or, later, other databases.
/// `display` never holds a password: it is what messages and the journal name.
public struct SinkURL: Sendable, Equatable {
    public enum Kind: String, Sendable { case sqlite }

    public let kind: Kind
    /// The database: a file path for SQLite.
    public let database: String
    public let table: String
    /// The URL without credentials, for messages and the journal.
    public let display: String

    public static func parse(_ text: String) throws -> SinkURL {
        guard let schemeEnd = text.range(of: "://") else {
            throw invalid(text, "expected sqlite:///path/to.db?table=NAME")
        }
        let scheme = String(text[..<schemeEnd.lowerBound]).lowercased()
        guard let kind = Kind(rawValue: scheme) else {
            throw invalid(text, "the scheme '\(scheme)' is not a database batchcore writes to; expected sqlite://")
        }
        let rest = text[schemeEnd.upperBound...]
        let (location, query) = rest.firstIndex(of: "?").map { (rest[..<$0], rest[rest.index(after: $0)...]) } ?? (rest, "")
        var table = "results"
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, parts[0] == "table" else {
                throw invalid(text, "unknown parameter '\(pair)'; the only one is table=NAME")
            }
            table = parts[1]
        }
        guard isIdentifier(table) else {
            throw invalid(text, "the table '\(table)' must be letters, digits and underscores, not starting with a digit")
        }
        guard !location.isEmpty else { throw invalid(text, "no database file: expected sqlite:///path/to.db") }
        return SinkURL(kind: kind, database: String(location), table: table,
                       display: "\(scheme)://\(location)?table=\(table)")
    }

    static func isIdentifier(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { return false }
        return name.utf8.allSatisfy { $0 == UInt8(ascii: "_") || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }
    }

    private static func invalid(_ text: String, _ what: String) -> BatchCoreError {
        BatchCoreError(.option, "sink '\(text)': \(what)")
    }
}
