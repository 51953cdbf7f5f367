/// A single document.
///
/// The file is not opened or checked here: a file that is missing when the
/// batch reaches it fails that one document, with the reason, instead of
/// refusing the whole batch.
public struct FileSource: DocumentSource {
    /// The document this source yields.
    public let document: Document

    /// Always 1.
    public var knownCount: Int? { 1 }

    /// - Parameters:
    ///   - path: the file to read.
    ///   - id: the document's unique name; defaults to `path`.
    ///   - metadata: a JSON object as text, kept in compact form (whitespace
    ///     removed, key order and values as written); defaults to `{}`.
    /// - Throws: `.invalidArgument` for an empty path or id; `.input` when
    ///   `metadata` is not a JSON object, naming the problem.
    public init(path: String, id: String? = nil, metadata: String? = nil) throws {
        guard !path.isEmpty else {
            throw BatchCoreError(.invalidArgument, "the document path is empty; give the path of a file")
        }
        let id = id ?? path
        guard !id.isEmpty else {
            throw BatchCoreError(.invalidArgument, "the id of '\(path)' is empty; give a non-empty id or none to use the path")
        }
        let compact = try metadata.map {
            try JSONScanner.compactObject($0, what: "the metadata of '\(id)'")
        }
        document = Document(id: id, path: path, metadata: compact ?? "{}")
    }

    public func makeIterator() throws -> any DocumentIterator {
        SingleDocumentIterator(document)
    }
}

final class SingleDocumentIterator: DocumentIterator {
    private var document: Document?

    init(_ document: Document) { self.document = document }

    func next() throws -> Document? {
        defer { document = nil }
        return document
    }
}
