// How each source names what it reads, for the journal's run fingerprint.

extension DirectorySource {
    public var identity: String { "directory \(root)" + (glob.map { " (glob \($0))" } ?? "") }
}

extension FileSource {
    public var identity: String { "file \(document.path ?? document.id)" }
}

extension ManifestSource {
    public var identity: String { "manifest \(path)" }
}

extension ListSource {
    public var identity: String { path == "-" ? "paths from standard input" : "list \(path)" }
}
