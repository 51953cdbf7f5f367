import CBatchCore

/// Dedupe: finds a finished document with the same content, first among
/// results not yet committed, then in the result store.
final class DedupeIndex: ResultSink {
    private let store: any ResultStore
    /// Finished results the store has not committed yet, by content hash.
    private let uncommitted = Locked([String: StoredResult]())

    init(store: any ResultStore) { self.store = store }

    func accept(_ result: DocumentResult, persisted: Bool) {
        guard let hash = result.contentHash, result.status == .ok || result.status == .partial else { return }
        let stored = StoredResult(id: result.document.id, status: result.status, output: result.output,
                                  outputIsJSON: result.outputIsJSON)
        uncommitted.withLock { if $0[hash] == nil { $0[hash] = stored } }
    }

    /// The store holds these now: it answers for them from here on.
    func committed(_ group: [DocumentResult]) {
        uncommitted.withLock { pending in
            for result in group {
                if let hash = result.contentHash, pending[hash]?.id == result.document.id {
                    pending[hash] = nil
                }
            }
        }
    }

    func firstResult(withHash hash: String) -> StoredResult? {
        uncommitted.withLock { $0[hash] } ?? store.firstResult(withHash: hash)
    }

    /// SHA-256 of a document's content in hex, in memory or in its file;
    /// nil when it has neither or the file cannot be read (the processor
    /// then reports why).
    static func contentHash(of document: Document) -> String? {
        var hex = [CChar](repeating: 0, count: 65)
        if let content = document.content {
            content.withUnsafeBytes { bc_shim_sha256($0.baseAddress, $0.count, &hex) }
        } else if let path = document.path {
            guard FileNameBytes.withCString(path, { bc_shim_sha256_file($0, &hex) }) == 0 else { return nil }
        } else {
            return nil
        }
        return String(decoding: hex.prefix(64).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
