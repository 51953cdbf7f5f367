/// The columns a sink writes. Without a mapping, the documented schema:
/// `id` (primary key), `path`, `status`, `output` (JSON text), `error`,
/// `attempts`, `duration_ms`, `input_tokens`, `output_tokens`, `cost_usd`,
/// `metadata` (JSON text), `duplicate_of`, `batch`, `finished_at` (ISO 8601, UTC). With
/// `sink.columns`, `id`, the mapped columns, `status`, `error`, `batch`
/// and `finished_at`.
struct SinkColumn: Sendable {
    enum Kind: String, Sendable {
        case text, integer, real, boolean, json
        /// `finished_at`: timestamptz in PostgreSQL, ISO 8601 text in SQLite.
        case timestamp

        /// The types `sink.columns` may name.
        static let mappable: [Kind] = [.text, .integer, .real, .boolean, .json]
    }

    let name: String
    let kind: Kind
    /// Takes a field of the JSON output (`sink.columns`).
    var isMapped = false
    /// The value of this column for one row; throws on a type mismatch.
    let value: @Sendable (SinkRow) throws -> SinkValue
}

/// One journal row on its way to a sink.
struct SinkRow: Sendable {
    let result: DocumentResult
    let finishedAt: Double
    let batch: String
    /// The output parsed, when mapped columns read its fields.
    let parsedOutput: JSONValue?

    init(result: DocumentResult, finishedAt: Double, batch: String, parseOutput: Bool) {
        self.result = result
        self.finishedAt = finishedAt
        self.batch = batch
        parsedOutput = parseOutput && result.outputIsJSON ? result.output.flatMap { try? JSONValue.parse($0) } : nil
    }
}

/// A column's value, as a database binds it.
enum SinkValue: Sendable, Equatable {
    case null
    case int(Int64)
    case real(Double)
    case text(String)
}

enum SinkColumns {
    static func standard() -> [SinkColumn] {
        [key, text("path") { $0.result.document.path }, status,
         text("output", .json) { ResultOutput($0.result).json.map { String(decoding: $0, as: UTF8.self) } },
         text("error") { $0.result.error },
         int("attempts") { Int64($0.result.attempts) },
         SinkColumn(name: "duration_ms", kind: .real) { .real($0.result.durationMs) },
         int("input_tokens") { Int64(bitPattern: $0.result.inputTokens) },
         int("output_tokens") { Int64(bitPattern: $0.result.outputTokens) },
         SinkColumn(name: "cost_usd", kind: .real) { .real($0.result.costUSD) },
         text("metadata", .json) { $0.result.document.metadata },
         text("duplicate_of") { $0.result.duplicateOf },
         batch, finishedAt]
    }

    /// `name[:type]=$.field.field,…`: each column takes one field of the JSON output.
    static func mapped(_ spec: String) throws -> [SinkColumn] {
        var columns = [key]
        for item in spec.split(separator: ",") {
            let parts = item.split(separator: "=", maxSplits: 1).map { String($0).trimmingSpaces }
            guard parts.count == 2 else { throw invalid(spec, "'\(item)' is not NAME=$.FIELD") }
            let nameAndType = parts[0].split(separator: ":", maxSplits: 1).map(String.init)
            let name = nameAndType[0]
            guard SinkURL.isIdentifier(name), !columns.contains(where: { $0.name == name }),
                  !["status", "error", "batch", "finished_at"].contains(name) else {
                throw invalid(spec, "'\(name)' is not a column name of its own (letters, digits, underscores; not id, status, error, batch or finished_at)")
            }
            let kind = try nameAndType.count == 2 ? columnKind(nameAndType[1], spec: spec) : .text
            let path = try fieldPath(parts[1], spec: spec)
            columns.append(SinkColumn(name: name, kind: kind, isMapped: true) { row in
                try convert(JSONPath.value(at: path, in: row.parsedOutput), to: kind, column: name, field: parts[1])
            })
        }
        guard columns.count > 1 else { throw invalid(spec, "no column") }
        return columns + [status, text("error") { $0.result.error }, batch, finishedAt]
    }

    /// The rows' values. A type mismatch (a result committed before this
    /// mapping: `SinkColumnCheck` fails the others) names the sink and the document.
    static func values(of rows: [SinkRow], _ columns: [SinkColumn], for url: SinkURL) throws -> [[SinkValue]] {
        try rows.map { row in
            do {
                return try columns.map { try $0.value(row) }
            } catch SinkFailure.permanent(let message) {
                throw SinkFailure.permanent("sink \(url.display): document '\(row.result.document.id)': \(message)")
            }
        }
    }

    private static let key = SinkColumn(name: "id", kind: .text) { .text($0.result.document.id) }
    private static let status = SinkColumn(name: "status", kind: .text) { .text($0.result.status.name) }
    private static let batch = SinkColumn(name: "batch", kind: .text) { .text($0.batch) }
    private static let finishedAt = SinkColumn(name: "finished_at", kind: .timestamp) { .text(isoTimestamp($0.finishedAt)) }

    private static func text(_ name: String, _ kind: SinkColumn.Kind = .text,
                             _ get: @escaping @Sendable (SinkRow) -> String?) -> SinkColumn {
        SinkColumn(name: name, kind: kind) { get($0).map { .text($0) } ?? .null }
    }

    private static func int(_ name: String, _ get: @escaping @Sendable (SinkRow) -> Int64) -> SinkColumn {
        SinkColumn(name: name, kind: .integer) { .int(get($0)) }
    }

    private static func columnKind(_ name: String, spec: String) throws -> SinkColumn.Kind {
        guard let kind = SinkColumn.Kind(rawValue: name.lowercased()), SinkColumn.Kind.mappable.contains(kind) else {
            throw invalid(spec, "unknown type '\(name)'; expected " + SinkColumn.Kind.mappable.map(\.rawValue).joined(separator: ", "))
        }
        return kind
    }

    private static func fieldPath(_ text: String, spec: String) throws -> [String] {
        guard text.hasPrefix("$.") else { throw invalid(spec, "'\(text)' is not a field path like $.field.field") }
        let path = text.dropFirst(2).split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard path.allSatisfy({ !$0.isEmpty }) else { throw invalid(spec, "'\(text)' has an empty field name") }
        return path
    }

    /// A field's JSON value as the column's type; a missing field or null is NULL.
    private static func convert(_ value: JSONValue?, to kind: SinkColumn.Kind, column: String, field: String) throws -> SinkValue {
        guard let value, value != .null else { return .null }
        switch (kind, value) {
        case (.json, _): return .text(value.text)
        case (.text, .string(let s)): return .text(s)
        case (.real, .number(let n)): return .real(n)
        case (.integer, .number(let n)) where n.rounded() == n && abs(n) < 9.2e18: return .int(Int64(n))
        case (.boolean, .bool(let b)): return .int(b ? 1 : 0)
        default:
            throw SinkFailure.permanent("column '\(column)' is declared \(kind.rawValue), but the output's \(field) is \(jsonType(value)): \(excerpt(value))")
        }
    }

    private static func jsonType(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// The value as JSON, cut short when long.
    private static func excerpt(_ value: JSONValue) -> String {
        let text = value.text
        return text.count <= 80 ? text : text.prefix(77) + "..."
    }

    private static func invalid(_ spec: String, _ what: String) -> BatchCoreError {
        BatchCoreError(.option, "sink.columns '\(spec)': \(what)")
    }
}

/// Reads a field of a document's JSON output.
enum JSONPath {
    static func value(at path: [String], in output: JSONValue?) -> JSONValue? {
        guard var value = output else { return nil }
        for name in path {
            guard case .object(let members) = value, let next = members[name] else { return nil }
            value = next
        }
        return value
    }
}
