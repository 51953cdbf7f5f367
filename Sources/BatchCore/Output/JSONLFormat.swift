import FoundationEssentials

/// JSON Lines: one object per document, ended by a newline —
/// `{"id":…,"path":…,"status":…,"output":…,"error":…,"attempts":…,"duration_ms":…}`
/// plus the members that apply (`failed_stage`, tokens, `units`, `cost_usd`,
/// `duplicate_of`, `metadata`). `OutputLineParser` reads such lines back.
public struct JSONLFormat: ResultFormat {
    public init() {}

    public func record(for r: DocumentResult) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128 + (r.output?.count ?? 0))
        func key(_ k: String) { out.append(contentsOf: Array(k.utf8)) }
        key("{\"id\":"); appendJSONFileName(r.document.id, to: &out)
        key(",\"path\":")
        if let path = r.document.path { appendJSONFileName(path, to: &out) } else { key("null") }
        key(",\"status\":\""); key(r.status.name); key("\"")
        key(",\"output\":")
        Self.appendOutput(of: r, to: &out)
        key(",\"error\":")
        if let error = r.error { appendJSONString(error, to: &out) } else { key("null") }
        if let stage = r.failedStageLabel { key(",\"failed_stage\":"); appendJSONString(stage, to: &out) }
        key(",\"attempts\":\(r.attempts)")
        key(",\"duration_ms\":\((r.durationMs * 1000).rounded() / 1000)")
        if r.inputTokens > 0 || r.outputTokens > 0 {
            key(",\"input_tokens\":\(r.inputTokens),\"output_tokens\":\(r.outputTokens)")
        }
        if r.units > 0 { key(",\"units\":\(r.units)") }
        if r.costUSD > 0 { key(",\"cost_usd\":\(r.costUSD)") }
        if let original = r.duplicateOf {
            key(",\"duplicate_of\":"); appendJSONFileName(original, to: &out)
        }
        if r.document.metadata != "{}" {
            key(",\"metadata\":"); key(r.document.metadata)
        }
        key("}\n")
        return out
    }

    /// The output as `ResultOutput` spells it, with
    /// `"output_encoding":"base64"` after a base64 one.
    private static func appendOutput(of r: DocumentResult, to out: inout [UInt8]) {
        let output = ResultOutput(r)
        out.append(contentsOf: output.json ?? Array("null".utf8))
        if let encoding = output.encoding {
            out.append(contentsOf: Array(",\"output_encoding\":\"\(encoding)\"".utf8))
        }
    }
}

/// One JSON array holding the JSON Lines objects, one per line.
public struct JSONArrayFormat: ResultFormat {
    public init() {}

    public var header: [UInt8] { Array("[\n".utf8) }
    public var separator: [UInt8] { Array(",\n".utf8) }

    public func record(for result: DocumentResult) -> [UInt8] {
        Array(JSONLFormat().record(for: result).dropLast())
    }

    public func footer(empty: Bool) -> [UInt8] { Array((empty ? "]\n" : "\n]\n").utf8) }
}
