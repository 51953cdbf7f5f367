import BatchCore
import BatchCoreRedis

/// A distributed batch's failed documents as the dashboard lists them: paged
/// in id order from the failed ids Redis keeps (`RedisFailures`), a chunk of
/// results at a time, so a request reads no further than its page.
enum RedisDocumentPages {
    static let chunk = 200

    /// Up to `filter.limit` failed documents after `filter.after` that match its stage and text.
    static func failed(of batch: String, _ filter: JournalReader.DocumentFilter, on c: RedisConnection) throws -> [DocumentResult] {
        let failures = RedisFailures(batch: batch)
        var page: [DocumentResult] = []
        var after = filter.after
        while page.count < filter.limit {
            let ids = try failures.failedIds(after: after, count: chunk, on: c)
            guard let last = ids.last else { break }
            for stored in try failures.results(of: ids, on: c).compactMap({ $0 }) {
                let result = try decode(stored)
                guard matches(result, filter) else { continue }
                page.append(result)
                if page.count == filter.limit { break }
            }
            after = last
        }
        return page
    }

    /// One committed document, or nil.
    static func document(_ id: String, of batch: String, on c: RedisConnection) throws -> DocumentResult? {
        try RedisResults(batch: batch).result(for: id, on: c).map(decode)
    }

    /// The result a worker committed: its output line, with the document as submitted.
    private static func decode(_ bytes: [UInt8]) throws -> DocumentResult {
        let stored = try StoredLine.decode(bytes)
        var result = try DocumentResult.reading(outputLine: stored.line)
        result.document = stored.document
        return result
    }

    /// As the journal filters: the failed stage's label, and a substring of the id, path or error.
    private static func matches(_ r: DocumentResult, _ filter: JournalReader.DocumentFilter) -> Bool {
        if let stage = filter.stage, r.failedStageLabel != stage { return false }
        guard let text = filter.text, !text.isEmpty else { return true }
        return [r.document.id, r.document.path ?? "", r.error ?? ""].contains { $0.contains(text) }
    }
}
