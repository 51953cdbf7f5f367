import Glibc

/// Documents listed in a manifest: JSON Lines (one object per line) or a JSON
/// array of objects.
///
/// Each object may have:
/// - `"path"`: the file to read (a string). Required unless `"id"` is given:
///   an entry with only an `"id"` is a document without a file (its
///   metadata is its input). A relative path is resolved against the
///   directory holding the manifest, not the current directory, so a
///   manifest can sit next to its files and be run from anywhere; an
///   absolute path is used as is.
/// - `"id"`: the document's unique name (a string). Defaults to `"path"`
///   exactly as written in the manifest (before resolution), so ids do not
///   change with the directory a batch is started from.
/// - `"metadata"`: a JSON object handed to processors, kept as compact JSON
///   text (whitespace removed; key order, numbers and escapes as written).
///   Defaults to `{}`.
///
/// Other keys are ignored.
///
/// Format: a `.jsonl` file is JSON Lines, a `.json` file is an array; for
/// any other name the first non-space byte decides (`[` → array, otherwise
/// JSON Lines). In JSON Lines, blank lines are ignored and a line may end in
/// "\r\n". A UTF-8 byte order mark is skipped.
///
/// The initializer reads the whole manifest once and refuses it if any entry
/// is wrong, so a batch never starts on a half-valid manifest. Errors are
/// `BatchCoreError(.input)` and start with "<manifest>:<line>:" (plus
/// "element <n>:", counted from 1, for arrays), e.g.
/// `manifest.jsonl:7: not a JSON object (found an array); expected ...`.
/// Ids must be unique; a duplicate names both lines. A missing manifest is
/// `.notFound`.
///
/// Memory: validation keeps one 64-bit hash per id (not the ids, not the
/// documents); `makeIterator()` re-reads the file, line by line for JSON
/// Lines. A JSON array is read into memory whole while it is validated or
/// iterated (its bytes, not parsed documents).
public struct ManifestSource: DocumentSource {
    /// The manifest file, as given.
    public let path: String
    /// The number of entries, counted while validating.
    public let knownCount: Int?

    let format: ManifestFormat
    /// Prefix for relative "path" values: the manifest's directory with a
    /// trailing "/", or "" when the manifest is in the current directory.
    let baseDirectory: String

    public init(path: String) throws {
        self.path = path
        format = try Self.detectFormat(path)
        if let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) {
            baseDirectory = String(path[...slash])
        } else {
            baseDirectory = ""
        }
        knownCount = try Self.validate(path, format)
    }

    public func makeIterator() throws -> any DocumentIterator {
        ManifestIterator(reader: try ManifestReader(path: path, format: format), baseDirectory: baseDirectory)
    }

    /// By extension, else by the first non-space byte.
    static func detectFormat(_ path: String) throws -> ManifestFormat {
        let lower = path.lowercased()
        if lower.hasSuffix(".jsonl") { return .lines }
        if lower.hasSuffix(".json") { return .array }
        let file = try openForReading(path, what: "manifest")
        defer { fclose(file) }
        while true {
            let c = fgetc(file)
            switch c {
            case 0x20, 0x09, 0x0A, 0x0D, 0xEF, 0xBB, 0xBF: continue  // whitespace, byte order mark
            case Int32(UInt8(ascii: "[")): return .array
            default: return .lines
            }
        }
    }

    /// Reads every entry once; returns the count or throws the first error.
    private static func validate(_ path: String, _ format: ManifestFormat) throws -> Int {
        let reader = try ManifestReader(path: path, format: format)
        // Duplicate ids are found by hash: one Int per entry instead of the id
        // itself. A repeated hash is confirmed by re-reading the earlier entry,
        // so a (very unlikely) collision is never reported as a duplicate.
        var firstByHash: [Int: Int32] = [:]
        var moreByHash: [Int: [Int32]] = [:]
        var count = 0
        while try reader.next(keepMetadata: false) {
            count = reader.entry.ordinal
            guard count < Int(Int32.max) else {
                throw BatchCoreError(.input, "\(path): more than \(Int32.max) entries; split the manifest")
            }
            var hasher = Hasher()
            let idBytes = reader.entry.idBytes
            idBytes.withUnsafeBytes { hasher.combine(bytes: $0) }
            let hash = hasher.finalize()
            guard let first = firstByHash[hash] else {
                firstByHash[hash] = Int32(count)
                continue
            }
            for earlier in [first] + moreByHash[hash, default: []] {
                let other = try entry(Int(earlier), of: path, format)
                if other.idBytes == idBytes {
                    throw duplicateError(path, format, reader.entry, earlier: other)
                }
            }
            moreByHash[hash, default: []].append(Int32(count))
        }
        return count
    }

    /// The entry at 1-based position `ordinal`.
    private static func entry(_ ordinal: Int, of path: String, _ format: ManifestFormat) throws -> ManifestEntry {
        let reader = try ManifestReader(path: path, format: format)
        while try reader.next(keepMetadata: false) {
            if reader.entry.ordinal == ordinal { return reader.entry }
        }
        throw BatchCoreError(.input, "\(path): the manifest changed while it was being read; try again")
    }

    private static func duplicateError(_ path: String, _ format: ManifestFormat,
                                       _ entry: ManifestEntry, earlier: ManifestEntry) -> BatchCoreError {
        let id = quotedForMessage(String(decoding: entry.idBytes, as: UTF8.self))
        let source = entry.hasId ? "" : " (taken from \"path\", as no \"id\" is given)"
        let hint = "expected every id to be unique; give one of them a distinct \"id\""
        switch format {
        case .lines:
            return BatchCoreError(.input, "\(path):\(entry.line): duplicate id \(id)\(source), first used on line \(earlier.line); \(hint)")
        case .array:
            return BatchCoreError(.input, "\(path):\(entry.line): element \(entry.ordinal): duplicate id \(id)\(source), first used by element \(earlier.ordinal) on line \(earlier.line); \(hint)")
        }
    }
}

/// Reads a manifest again, one entry per `next()`.
final class ManifestIterator: DocumentIterator {
    private let reader: ManifestReader
    private let baseDirectory: String

    init(reader: ManifestReader, baseDirectory: String) {
        self.reader = reader
        self.baseDirectory = baseDirectory
    }

    func next() throws -> Document? {
        guard try reader.next(keepMetadata: true) else { return nil }
        let entry = reader.entry
        var path: String? = nil
        if entry.hasPath {
            let raw = String(decoding: entry.path, as: UTF8.self)
            path = raw.hasPrefix("/") ? raw : baseDirectory + raw
        }
        let id = entry.hasId ? String(decoding: entry.id, as: UTF8.self) : String(decoding: entry.path, as: UTF8.self)
        let metadata = entry.hasMetadata ? String(decoding: entry.metadata, as: UTF8.self) : "{}"
        return Document(id: id, path: path, metadata: metadata)
    }
}
