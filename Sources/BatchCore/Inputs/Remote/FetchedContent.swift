import Glibc

/// A remote document's bytes once fetched: in memory (below
/// `fetch.memory_max`) or in a private temporary file, removed when the
/// document is done with (the last job holding it lets go).
final class FetchedContent: Sendable {
    enum Storage: Sendable {
        case memory([UInt8])
        case file(String)
    }

    let storage: Storage
    /// The source's ETag, else its Last-Modified: what a resume compares.
    let version: String?

    init(_ storage: Storage, version: String?) {
        self.storage = storage
        self.version = version
    }

    deinit {
        if case .file(let path) = storage { unlink(path) }
    }

    /// `document` as processors see it: its bytes in memory (no path), or
    /// the temporary file as its path; id and metadata unchanged.
    func presenting(_ document: Document) -> Document {
        var presented = document
        switch storage {
        case .memory(let bytes):
            presented.path = nil
            presented.content = bytes
        case .file(let path):
            presented.path = path
        }
        return presented
    }
}
