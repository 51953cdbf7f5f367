import FoundationEssentials

/// Reads back a line of the JSON Lines output (`JSONLFormat`)
/// as the result it was written from: how a lost journal is rebuilt.
enum OutputLineParser {
    /// The result on `line` (without its newline); throws the reason it is not a result line.
    static func result(_ line: UnsafeBufferPointer<UInt8>) throws -> DocumentResult {
        var s = JSONScanner(line)
        var fields = Fields()
        do {
            s.skipWhitespace()
            guard s.current == UInt8(ascii: "{") else { throw s.fail("expected a JSON object") }
            s.pos += 1
            s.skipWhitespace()
            while s.current != UInt8(ascii: "}") {
                var key: [UInt8] = []
                guard s.current == UInt8(ascii: "\"") else { throw s.fail("expected a string key in double quotes") }
                try s.scanString(.key, into: &key)
                s.skipWhitespace()
                guard s.current == UInt8(ascii: ":") else { throw s.fail("expected ':' after an object key") }
                s.pos += 1
                s.skipWhitespace()
                try fields.read(String(decoding: key, as: UTF8.self), &s)
                s.skipWhitespace()
                if s.current == UInt8(ascii: ",") {
                    s.pos += 1
                    s.skipWhitespace()
                } else if s.current != UInt8(ascii: "}") {
                    throw s.fail("expected ',' or '}' after an object member")
                }
            }
        } catch let failure as JSONScanner.Failure {
            throw BatchCoreError(.input, "\(failure.reason) at byte \(failure.offset + 1)")
        }
        return try fields.result()
    }

    /// The members of a result line, as read.
    private struct Fields {
        var id: String?
        var path: String?
        var status: DocumentStatus?
        var output: (bytes: [UInt8], json: Bool)?
        var base64 = false
        var error: String?
        var failedStage: String?
        var attempts = 1
        var durationMs = 0.0
        var inputTokens: UInt64 = 0
        var outputTokens: UInt64 = 0
        var units: UInt64 = 0
        var costUSD = 0.0
        var duplicateOf: String?
        var metadata = "{}"

        mutating func read(_ key: String, _ s: inout JSONScanner) throws {
            switch key {
            case "id": id = try string(&s)
            case "path": path = try string(&s)
            case "status":
                let name = try string(&s)
                status = [DocumentStatus.ok, .partial, .failed, .skipped].first { $0.name == name }
                if status == nil { throw BatchCoreError(.input, "unknown status '\(name ?? "null")'") }
            case "output":
                let isString = s.current == UInt8(ascii: "\"")
                if isString {
                    var bytes: [UInt8] = []
                    try s.scanString(.fileName, into: &bytes)
                    output = (bytes, false)
                } else {
                    let raw = try value(&s)
                    output = raw == Array("null".utf8) ? nil : (raw, true)
                }
            case "output_encoding": base64 = try string(&s) == "base64"
            case "error": error = try string(&s)
            case "failed_stage": failedStage = try string(&s)
            case "attempts": attempts = Int(clamping: try integer(&s, key))
            case "duration_ms": durationMs = try number(&s, key)
            case "input_tokens": inputTokens = try integer(&s, key)
            case "output_tokens": outputTokens = try integer(&s, key)
            case "units": units = try integer(&s, key)
            case "cost_usd": costUSD = try number(&s, key)
            case "duplicate_of": duplicateOf = try string(&s)
            case "metadata": metadata = String(decoding: try value(&s), as: UTF8.self)
            default: _ = try value(&s)
            }
        }

        func result() throws -> DocumentResult {
            guard let id, !id.isEmpty else { throw BatchCoreError(.input, "no \"id\"") }
            guard let status else { throw BatchCoreError(.input, "no \"status\"") }
            var bytes = output
            if base64, let text = bytes?.bytes {
                guard let data = Data(base64Encoded: Data(text)) else { throw BatchCoreError(.input, "\"output\" is not base64") }
                bytes = (Array(data), false)
            }
            return DocumentResult(
                document: Document(id: id, path: path, metadata: metadata),
                status: status, output: bytes?.bytes, outputIsJSON: bytes?.json ?? false, error: error,
                attempts: attempts, failedStage: nil, failedStageLabel: failedStage, durationMs: durationMs,
                inputTokens: inputTokens, outputTokens: outputTokens, units: units, costUSD: costUSD,
                duplicateOf: duplicateOf)
        }

        /// A string, or nil for null.
        private func string(_ s: inout JSONScanner) throws -> String? {
            guard s.current == UInt8(ascii: "\"") else {
                let raw = try value(&s)
                guard raw == Array("null".utf8) else { throw BatchCoreError(.input, "expected a string or null") }
                return nil
            }
            var bytes: [UInt8] = []
            try s.scanString(.fileName, into: &bytes)
            return FileNameBytes.string(bytes)
        }

        private func number(_ s: inout JSONScanner, _ key: String) throws -> Double {
            guard let n = Double(String(decoding: try value(&s), as: UTF8.self)), n >= 0, n.isFinite else {
                throw BatchCoreError(.input, "\"\(key)\" is not a number")
            }
            return n
        }

        private func integer(_ s: inout JSONScanner, _ key: String) throws -> UInt64 {
            guard let n = UInt64(String(decoding: try value(&s), as: UTF8.self)) else {
                throw BatchCoreError(.input, "\"\(key)\" is not a whole number")
            }
            return n
        }

        /// Any value, in compact form.
        private func value(_ s: inout JSONScanner) throws -> [UInt8] {
            var raw: [UInt8] = []
            try s.scanValue(emit: true, into: &raw)
            return raw
        }
    }
}

extension DocumentResult {
    /// The result a line of the JSON Lines output was written from (its
    /// output included); throws the reason it is not a result line.
    public static func reading(outputLine line: some Collection<UInt8>) throws -> DocumentResult {
        try Array(line).withUnsafeBufferPointer { try OutputLineParser.result($0) }
    }
}
