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
/// - `"content"` (text) or `"content_base64"` (bytes) instead of `"path"`:
///   a document held in memory, which needs an `"id"` (see `ContentSource`
///   for how processors see it; `content.max_size` limits its size).
/// - `"metadata"`: a JSON object handed to processors, kept as compact JSON
///   text (whitespace removed; key order, numbers and escapes as written).
///   Defaults to `{}`.
///
/// Other keys are ignored, and not decoded (an unpaired surrogate escape in
/// one does no harm). In "path" and "id", `\udc80`...`\udcff` stand for the
/// bytes 0x80...0xFF of a file name that is not UTF-8, as batchcore writes
/// them (see `FileNameBytes`).
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
/// Ids must be unique; a duplicate names both lines. Every "path" must
/// exist: otherwise the manifest is refused (`.notFound`), naming the first
/// few missing files with their lines and how many are missing. A missing
/// manifest is `.notFound`.
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
    /// The size of the largest "content" or "content_base64", and its line,
    /// found while validating.
    public let largestContentBytes: Int
    let largestContentLine: Int

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
        (knownCount, (largestContentBytes, largestContentLine)) = try Self.validate(path, format, baseDirectory: baseDirectory)
    }

    public var largestContentPlace: String { "\(path):\(largestContentLine): the content" }

    public func makeIterator() throws -> any DocumentIterator {
        ManifestIterator(reader: try ManifestReader(path: path, format: format), baseDirectory: baseDirectory)
    }

    /// By extension, else by the first non-space byte.
    static func detectFormat(_ path: String) throws -> ManifestFormat {
        let lower = path.lowercased()
        if lower.hasByteSuffix(".jsonl") { return .lines }
        if lower.hasByteSuffix(".json") { return .array }
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

    /// Reads every entry once; returns the count and the largest content, or
    /// throws the first error.
    /// Missing files are reported after the whole manifest has been read,
    /// so a syntax error anywhere wins and every missing file is counted.
    private static func validate(_ path: String, _ format: ManifestFormat,
                                 baseDirectory: String) throws -> (Int, (bytes: Int, line: Int)) {
        let reader = try ManifestReader(path: path, format: format)
        // Duplicate ids are found by hash: one Int per entry instead of the id
        // itself. A repeated hash is confirmed by re-reading the earlier entry,
        // so a (very unlikely) collision is never reported as a duplicate.
        var firstByHash: [Int: Int32] = [:]
        var moreByHash: [Int: [Int32]] = [:]
        var missing = MissingFiles(manifest: path, baseDirectory: baseDirectory)
        var count = 0
        var largest = (bytes: 0, line: 0)
        while try reader.next(keepMetadata: false) {
            count = reader.entry.ordinal
            if reader.entry.hasContent, reader.entry.content.count > largest.bytes {
                largest = (reader.entry.content.count, reader.entry.line)
            }
            guard count < Int(Int32.max) else {
                throw BatchCoreError(.input, "\(path): more than \(Int32.max) entries; split the manifest")
            }
            if reader.entry.hasPath { missing.check(reader.entry.path, line: reader.entry.line) }
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
        try missing.refuseIfAny(of: count)
        return (count, largest)
    }

    /// The entry at 1-based position `ordinal`.
    private static func entry(_ ordinal: Int, of path: String, _ format: ManifestFormat) throws -> ManifestEntry {
        let reader = try ManifestReader(path: path, format: format)
        while try reader.next(keepMetadata: false) {
            if reader.entry.ordinal == ordinal { return reader.entry }
        }
        throw BatchCoreError(.input, "\(path): the manifest changed while it was being read; try again")
    }

    /// The file a "path" names: relative paths are resolved against the
    /// manifest's directory; URLs (http://, https://, s3://) stay as they are.
    static func resolve(_ raw: [UInt8], against baseDirectory: String) -> String {
        let path = FileNameBytes.string(raw)
        return isAbsolutePath(path) || RemoteLocation.isRemote(path) ? path : baseDirectory + path
    }

    private static func duplicateError(_ path: String, _ format: ManifestFormat,
                                       _ entry: ManifestEntry, earlier: ManifestEntry) -> BatchCoreError {
        let id = quotedForMessage(FileNameBytes.string(entry.idBytes))
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

/// The entries of a manifest whose file does not exist: the first few with
/// their lines, and how many in all (a manifest of 500,000 entries may miss
/// thousands; a message listing them all would help nobody).
struct MissingFiles {
    static let shown = 5

    let manifest: String
    let baseDirectory: String
    private(set) var count = 0
    private var first: [(line: Int, path: String)] = []

    init(manifest: String, baseDirectory: String) {
        self.manifest = manifest
        self.baseDirectory = baseDirectory
    }

    /// Notes the entry at `line` when its file does not exist. Other errors
    /// (a file that cannot be read) fail that document when it runs, with
    /// the reason.
    mutating func check(_ raw: [UInt8], line: Int) {
        var info = stat()
        let path = ManifestSource.resolve(raw, against: baseDirectory)
        guard !RemoteLocation.isRemote(path) else { return }  // checked when fetched
        let err = FileNameBytes.withCString(path) { stat($0, &info) == 0 ? 0 : errno }
        guard err == ENOENT || err == ENOTDIR else { return }
        count += 1
        if first.count < Self.shown { first.append((line, FileNameBytes.string(raw))) }
    }

    func refuseIfAny(of total: Int) throws {
        guard count > 0 else { return }
        let listed = first.map { "\(manifest):\($0.line): \(quotedForMessage($0.path))" }.joined(separator: ", ")
        let more = count > first.count ? ", and \(count - first.count) more" : ""
        let base = baseDirectory.isEmpty ? "the current directory" : "'\(baseDirectory)'"
        throw BatchCoreError(.notFound, "\(manifest): \(count) of \(total) files do not exist: \(listed)\(more); "
            + "relative paths are resolved against the manifest's directory (\(base)): fix the paths or remove those entries")
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
        let path = entry.hasPath ? ManifestSource.resolve(entry.path, against: baseDirectory) : nil
        let id = FileNameBytes.string(entry.idBytes)
        let metadata = entry.hasMetadata ? String(decoding: entry.metadata, as: UTF8.self) : "{}"
        return Document(id: id, path: path, metadata: metadata, content: entry.hasContent ? entry.content : nil)
    }

    var line: Int { reader.entry.line }
}
