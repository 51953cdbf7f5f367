import BatchCore
import BatchCoreRedis

/// A distributed batch's documents as the dashboard lists them: paged in id
/// order from the ids Redis keeps (`RedisDocumentIndex`: every id, the
/// unfinished ones, the failed ones), a chunk of results at a time, so a
/// request holds at most a chunk of results and the documents workers hold
/// now, never the batch.
enum RedisDocumentPages {
    static let chunk = 200

    /// Up to `filter.limit` documents after `filter.after` with `status` (nil: any) that match its stage and text.
    static func page(of batch: String, status: ListedStatus?, _ filter: JournalReader.DocumentFilter,
                     on c: RedisConnection) throws -> [ListedDocument] {
        let index = RedisDocumentIndex(batch: batch)
        let held = try index.held(on: c)
        if status == .running { return try running(held, index: index, filter, on: c) }
        let list: RedisDocumentIndex.List = switch status {
        case .ended(.failed)?: .failed
        case .pending?: .unfinished
        default: .all
        }
        var page: [ListedDocument] = []
        var after = filter.after
        while page.count < filter.limit {
            let ids = try index.ids(in: list, after: after, count: chunk, on: c)
            guard let last = ids.last else { break }
            for (id, stored) in zip(ids, try index.results(of: ids, on: c)) {
                let document: ListedDocument = try stored.map { .finished(try decode($0)) }
                    ?? .unfinished(held[id] ?? Document(id: id, path: nil), running: held[id] != nil)
                guard has(document, status), matches(document, filter) else { continue }
                page.append(document)
                if page.count == filter.limit { break }
            }
            after = last
        }
        return page
    }

    /// The documents workers hold now (those committed but not yet acknowledged left out).
    private static func running(_ held: [String: Document], index: RedisDocumentIndex, _ filter: JournalReader.DocumentFilter,
                                on c: RedisConnection) throws -> [ListedDocument] {
        // In byte order, as Redis orders the other lists.
        let ids = held.keys.filter { id in filter.after.map { $0.utf8.lexicographicallyPrecedes(id.utf8) } ?? true }
            .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        let results = try index.results(of: ids, on: c)
        return zip(ids, results).filter { $0.1 == nil }
            .map { ListedDocument.unfinished(held[$0.0]!, running: true) }
            .filter { matches($0, filter) }.prefix(filter.limit).map { $0 }
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

    private static func has(_ d: ListedDocument, _ status: ListedStatus?) -> Bool {
        guard let status else { return true }
        switch d {
        case .finished(let result): return status.includes(result.status)
        case .unfinished(_, let running): return status == (running ? .running : .pending)
        }
    }

    /// As the journal filters: the failed stage's label, and a substring of the
    /// id, path or error (a document not finished has no failed stage, nor error).
    private static func matches(_ d: ListedDocument, _ filter: JournalReader.DocumentFilter) -> Bool {
        let (document, stage, error): (Document, String?, String?) = switch d {
        case .finished(let r): (r.document, r.failedStageLabel, r.error)
        case .unfinished(let document, _): (document, nil, nil)
        }
        if let wanted = filter.stage, stage != wanted { return false }
        guard let text = filter.text, !text.isEmpty else { return true }
        return [document.id, document.path ?? "", error ?? ""].contains { $0.contains(text) }
    }
}
