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

    public var largestContentBytes: Int { document.content?.count ?? 0 }

    public var largestContentPlace: String { "the content of '\(document.id)'" }

    /// `count` sources given together, the one at each index made by
    /// `document`; the first that cannot be made fails them all, its error
    /// saying which it is ("document 3 of 10: ...").
    public static func many(_ count: Int, _ document: (Int) throws -> ContentSource) throws -> [ContentSource] {
        try (0..<count).map { index in try numbered(index, of: count) { try document(index) } }
    }
}

/// Runs `body` for the document at `index` of `count` given together,
/// prefixing its error with the document's place: "document 3 of 10: ".
func numbered<T>(_ index: Int, of count: Int, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as BatchCoreError {
        throw BatchCoreError(error.code, "document \(index + 1) of \(count): \(error.message)")
    }
}

/// The size limit on in-memory documents (the batch option `content.max_size`).
enum ContentLimit {
    static let defaultBytes = 16 << 20

    /// Refuses a source whose largest content is over `limit`.
    static func check(_ source: some DocumentSource, limit: Int) throws {
        let bytes = source.largestContentBytes
        guard bytes > limit else { return }
        throw BatchCoreError(.input, "\(source.largestContentPlace) is \(bytes) bytes, over the limit of \(limit) bytes on in-memory documents "
            + "(content.max_size): give the document as a file (path) instead, or raise content.max_size")
    }
}
