/// A document to process: where it comes from and how it is named.
public struct Document: Sendable, Equatable {
    /// Unique name within the batch (the path for file sources, the manifest's "id").
    public var id: String
    /// The file to read; nil for documents that carry no file.
    public var path: String?
    /// A JSON object as text ("{}" when none).
    public var metadata: String
    /// The document's bytes, for a document held in memory instead of a file.
    public var content: [UInt8]?

    public init(id: String, path: String?, metadata: String = "{}", content: [UInt8]? = nil) {
        self.id = id
        self.path = path
        self.metadata = metadata
        self.content = content
    }
}

/// Where documents come from. Sources are read lazily while the batch runs,
/// so a batch never holds all its documents in memory.
public protocol DocumentSource: Sendable {
    /// Number of documents, when known before reading (validated sources).
    var knownCount: Int? { get }
    /// What the source reads, e.g. "directory samples (glob *.txt)": a run's
    /// journal records these to refuse resuming with other inputs.
    var identity: String { get }
    /// A fresh iterator over the documents, in a stable order. Errors found
    /// while reading (a vanished directory, a line that no longer parses) are
    /// thrown; the batch records them and goes on with the next source.
    func makeIterator() throws -> any DocumentIterator
    /// True when the source never yields one id twice (a directory, a
    /// validated manifest): a batch of that source alone needs no check.
    var idsAreUnique: Bool { get }
    /// The largest in-memory content it yields, and where, for the size limit.
    var largestContent: (bytes: Int, place: String)? { get }
    /// The source as the batch's options would have it read (an S3
    /// listing's page size); itself for most sources.
    func applying(_ options: BatchOptions) -> any DocumentSource
}

extension DocumentSource {
    public var idsAreUnique: Bool { false }
    public var largestContent: (bytes: Int, place: String)? { nil }
    public func applying(_ options: BatchOptions) -> any DocumentSource { self }
}

public protocol DocumentIterator: AnyObject {
    /// The next document, nil at the end.
    func next() throws -> Document?
    /// The line of its source the last document came from (manifests and
    /// lists), 0 when the source has no lines; for messages.
    var line: Int { get }
}

extension DocumentIterator {
    public var line: Int { 0 }
}
