import FoundationEssentials

/// RFC 4180 CSV: a header row, then one row per document, CRLF-ended. It
/// has every member of the JSON Lines records: `output` and `metadata` are
/// JSON text (a non-JSON output as a JSON string, or base64 with
/// `output_encoding` "base64"); an absent member is an empty field.
public struct CSVFormat: ResultFormat {
    public init() {}

    static let columns = ["id", "path", "status", "attempts", "error", "failed_stage", "duration_ms",
                          "input_tokens", "output_tokens", "units", "cost_usd", "duplicate_of",
                          "metadata", "output", "output_encoding"]

    public var header: [UInt8] { Array((Self.columns.joined(separator: ",") + "\r\n").utf8) }

    public func record(for r: DocumentResult) -> [UInt8] {
        let output = ResultOutput(r)
        let fields: [String] = [r.document.id, r.document.path ?? "", r.status.name, String(r.attempts), r.error ?? "",
                      r.failedStageLabel ?? "", String((r.durationMs * 1000).rounded() / 1000),
                      String(r.inputTokens), String(r.outputTokens), String(r.units), String(r.costUSD),
                      r.duplicateOf ?? "", r.document.metadata,
                      output.json.map { String(decoding: $0, as: UTF8.self) } ?? "", output.encoding ?? ""]
        return Array((fields.map(Self.quote).joined(separator: ",") + "\r\n").utf8)
    }

    /// Quotes by bytes, not Characters: "\r\n" and ",\u{301}" are single
    /// Characters that a Character comparison with "," or "\n" misses.
    static func quote(_ field: String) -> String {
        let quote = UInt8(ascii: "\"")
        let special: [UInt8] = [UInt8(ascii: ","), quote, 0x0A, 0x0D]
        guard field.utf8.contains(where: special.contains) else { return field }
        var out: [UInt8] = [quote]
        for byte in field.utf8 {
            if byte == quote { out.append(quote) }
            out.append(byte)
        }
        out.append(quote)
        return String(decoding: out, as: UTF8.self)
    }
}
