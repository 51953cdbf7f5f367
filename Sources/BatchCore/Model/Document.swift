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
    /// The id of its only document, when it has exactly one known without
    /// reading (a file, a content): the batch records it as the source is
    /// added, so the start need not read the source to find duplicates.
    var onlyId: String? { get }
    /// The size of the largest in-memory content it yields (0 when none),
    /// for the size limit.
    var largestContentBytes: Int { get }
    /// Where that content is, e.g. "the content of 'a'": built only for the
    /// message refusing it.
    var largestContentPlace: String { get }
    /// The source as the batch's options would have it read (an S3
    /// listing's page size); nil for most sources, which read alike
    /// whatever the options.
    func applying(_ options: BatchOptions) -> (any DocumentSource)?
}

extension DocumentSource {
    public var idsAreUnique: Bool { false }
    public var onlyId: String? { nil }
    public var largestContentBytes: Int { 0 }
    public var largestContentPlace: String { "" }
    public func applying(_ options: BatchOptions) -> (any DocumentSource)? { nil }
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
