/// A single document held in memory: its bytes instead of a file.
public struct ContentSource: DocumentSource {
    /// The document this source yields.
    public let document: Document

    /// Always 1.
    public var knownCount: Int? { 1 }

    /// - Throws: `.invalidArgument` for an empty id; `.input` when
    ///   `metadata` is not a JSON object, naming the problem.
    public init(id: String, content: [UInt8], metadata: String? = nil) throws {
        guard !id.isEmpty else {
            throw BatchCoreError(.invalidArgument, "a document given by its content needs a non-empty id")
        }
        let compact = try metadata.map {
            try JSONScanner.compactObject($0, what: "the metadata of '\(id)'")
        }
        document = Document(id: id, path: nil, metadata: compact ?? "{}", content: content)
    }

    public func makeIterator() throws -> any DocumentIterator {
        SingleDocumentIterator(document)
    }

    public var largestContent: (bytes: Int, place: String)? {
        (document.content?.count ?? 0, "the content of '\(document.id)'")
    }
}

/// The size limit on in-memory documents (the batch option `content.max_size`).
enum ContentLimit {
    static let defaultBytes = 16 << 20

    /// Refuses a source whose largest content is over `limit`.
    static func check(_ source: DocumentSource, limit: Int) throws {
        guard let (bytes, place) = source.largestContent, bytes > limit else { return }
        throw BatchCoreError(.input, "\(place) is \(bytes) bytes, over the limit of \(limit) bytes on in-memory documents "
            + "(content.max_size): give the document as a file (path) instead, or raise content.max_size")
    }
}
