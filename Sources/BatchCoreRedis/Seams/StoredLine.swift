import BatchCore

/// A committed result as the results hash holds it: the status (one digit),
/// the document (to run it again on `retry-failed`), then the output line
/// `run` would write, which `collect` writes as is.
public struct StoredLine: Sendable {
    public let status: DocumentStatus
    public let document: Document
    public let line: ArraySlice<UInt8>

    static func encode(_ result: DocumentResult, format: any ResultFormat) -> [UInt8] {
        var w = FieldWriter()
        w.add(Int(result.status.rawValue))
        JobCodec.encodeDocument(result.document, into: &w)
        return w.bytes + format.record(for: result)
    }

    public static func decode(_ bytes: [UInt8]) throws -> StoredLine {
        var r = FieldReader(bytes[...])
        guard let status = DocumentStatus(rawValue: try r.integer()) else {
            throw RedisError(.unexpectedReply, "redis: a stored result has no status")
        }
        let document = try JobCodec.decodeDocument(&r)
        return StoredLine(status: status, document: document, line: r.rest)
    }
}

/// The first result for a content (dedupe), as the content hash holds it.
enum StoredContent {
    static func encode(_ result: DocumentResult) -> [UInt8] {
        var w = FieldWriter()
        w.add(result.duplicateOf ?? result.document.id)
        w.add(Int(result.status.rawValue))
        w.add(result.outputIsJSON ? 1 : 0)
        w.add(result.output)
        return w.bytes
    }

    static func decode(_ bytes: [UInt8]) throws -> StoredResult {
        var r = FieldReader(bytes[...])
        let id = try r.text() ?? ""
        let status = DocumentStatus(rawValue: try r.integer()) ?? .ok
        let isJSON = try r.integer(Int.self) == 1
        return StoredResult(id: id, status: status, output: try r.bytesField(), outputIsJSON: isJSON)
    }
}
