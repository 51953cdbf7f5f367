// How each source names what it reads (for the journal's run fingerprint),
// whether its ids are unique by construction, and the id of a source of one
// document.

extension DirectorySource {
    public var identity: String { "directory \(root)" + (glob.map { " (glob \($0))" } ?? "") }
    public var idsAreUnique: Bool { true }
}

extension FileSource {
    public var identity: String { "file \(document.path ?? document.id)" }
    public var idsAreUnique: Bool { true }
    public var onlyId: String? { document.id }
}

extension ManifestSource {
    public var identity: String { "manifest \(path)" }
    public var idsAreUnique: Bool { true }
}

extension ListSource {
    public var identity: String { path == "-" ? "paths from standard input" : "list \(path)" }
}

extension ContentSource {
    public var identity: String { "content \(document.id)" }
    public var idsAreUnique: Bool { true }
    public var onlyId: String? { document.id }
}
