import FoundationEssentials
import Glibc

/// Appends one JSON object per finished document to the output file
/// (JSON Lines). Shared by the workers; each line is written whole.
final class OutputWriter: @unchecked Sendable {
    private let file: UnsafeMutablePointer<FILE>
    private let path: String
    private let monitor = Monitor()
    private var failure: BatchCoreError? = nil

    /// `path` "-" writes to standard output (`StandardOutput`). With `keeping`, the file is cut
    /// to that many bytes and appended to (resuming a journaled run).
    init(path: String, keeping length: Int64? = nil) throws {
        if let length, path != "-", truncate(path, Int(length)) != 0 {
            throw BatchCoreError(.io, "cannot cut the output file '\(path)' back to \(length) bytes: \(errnoText())")
        }
        let opened = path == "-" ? fdopen(dup(StandardOutput.descriptor), "w") : fopen(path, length == nil ? "w" : "a")
        guard let file = opened else {
            throw BatchCoreError(.io, "cannot write the output file '\(path)': \(errnoText()); check that its directory exists and is writable")
        }
        self.file = file
        self.path = path
    }

    deinit { fclose(file) }

    /// Writes one result; returns the first write error, if any happened.
    func write(_ result: DocumentResult) -> BatchCoreError? {
        write(lines: Self.line(for: result))
    }

    /// Writes whole lines; returns the first write error, if any happened.
    func write(lines line: [UInt8]) -> BatchCoreError? {
        monitor.withLock {
            if let failure { return failure }
            let written = line.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, file) }
            if written != line.count { failure = writeError() }
            return failure
        }
    }

    /// Flushes to the file system; returns a write error, if any happened.
    func flush() -> BatchCoreError? {
        monitor.withLock {
            if failure == nil, fflush(file) != 0 { failure = writeError() }
            return failure
        }
    }

    /// Bytes in the file so far (after a flush).
    var offset: Int64 { monitor.withLock { Int64(ftello(file)) } }

    private func writeError() -> BatchCoreError {
        BatchCoreError(.io, "cannot write the output file '\(path)': \(errnoText()); free some space or choose another --output")
    }

    /// `{"id":…,"path":…,"status":…,"output":…,"error":…,"attempts":…,"duration_ms":…}`
    static func line(for r: DocumentResult) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128 + (r.output?.count ?? 0))
        func key(_ k: String) { out.append(contentsOf: Array(k.utf8)) }
        key("{\"id\":"); appendJSONFileName(r.document.id, to: &out)
        key(",\"path\":")
        if let path = r.document.path { appendJSONFileName(path, to: &out) } else { key("null") }
        key(",\"status\":\""); key(r.status.name); key("\"")
        key(",\"output\":")
        if let output = r.output {
            if r.outputIsJSON {
                out.append(contentsOf: output.filter { $0 != 0x0A && $0 != 0x0D })
            } else if let text = String(validating: output, as: UTF8.self) {
                appendJSONString(text, to: &out)
            } else {
                appendJSONString(Data(output).base64EncodedString(), to: &out)
                key(",\"output_encoding\":\"base64\"")
            }
        } else {
            key("null")
        }
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
}
