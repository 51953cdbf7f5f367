import Glibc

/// Every regular file under a directory, recursively, optionally filtered by
/// an fnmatch(3) pattern.
///
/// Order is stable: the entries of each directory are sorted by the bytes of
/// their names (not by locale) and walked depth-first, so "a/z.txt" comes
/// before "b.txt" and "B" before "a".
///
/// What is listed:
/// - regular files, including hidden ones (only "." and ".." are skipped);
/// - symbolic links to regular files (the document's path is the link);
/// - dangling symbolic links, so that they fail as documents with a clear
///   "no such file" instead of silently disappearing from the batch.
///
/// Symbolic links to directories are not followed (no loops, no walking out
/// of the tree). FIFOs, sockets and devices are skipped. The root itself may
/// be a symbolic link.
///
/// `glob` is an fnmatch(3) pattern (`*`, `?`, `[...]`). Without a "/" it is
/// matched against the file name; with one, against the path relative to the
/// root, where `*` also matches "/" (FNM_PATHNAME is off), so `docs/*.pdf`
/// matches "docs/2024/a.pdf". A pattern starting with `**/` also matches at
/// the top level (`**/*.txt` matches "a.txt" and "x/y/a.txt"); a leading
/// "./" is ignored. A leading "." in a name needs no special match
/// (FNM_PERIOD is off).
///
/// Document id and path are the root as given joined with the relative path:
/// root "samples" or "samples/" gives "samples/a/b.txt".
///
/// Memory: the walk is streamed; it holds the sorted names of each directory
/// on the current path only, never the list of all files.
public struct DirectorySource: DocumentSource {
    /// The directory, as given.
    public let root: String
    /// The fnmatch(3) pattern, if any.
    public let glob: String?
    /// The number of matching files when the source was created.
    ///
    /// Counted by one walk in the initializer (names and file types only, no
    /// file is opened) so that progress has a total and an ETA from the start.
    /// The tree is walked again by `makeIterator()`; files added or removed in
    /// between are picked up or skipped, making this count an estimate.
    public let knownCount: Int?

    /// - Throws: `.notFound` if `root` does not exist; `.input` if it is not a
    ///   directory or cannot be read (also for an unreadable subdirectory);
    ///   `.invalidArgument` for an empty root or glob.
    public init(root: String, glob: String? = nil) throws {
        guard !root.isEmpty else {
            throw BatchCoreError(.invalidArgument, "the directory path is empty; give a directory such as \"docs\" or \".\"")
        }
        if let glob, glob.isEmpty {
            throw BatchCoreError(.invalidArgument, "the glob pattern is empty; give a pattern such as \"*.pdf\", or none to take every file")
        }
        var st = stat()
        if FileNameBytes.withCString(root, { stat($0, &st) }) != 0 {
            let err = errno
            if err == ENOENT || err == ENOTDIR {
                throw BatchCoreError(.notFound, "directory '\(root)' does not exist; check the path\(relativeHint(root))")
            }
            throw BatchCoreError(.input, "cannot access directory '\(root)': \(errnoText(err)); check its permissions")
        }
        guard st.st_mode & S_IFMT == S_IFDIR else {
            throw BatchCoreError(.input, "'\(root)' is not a directory; give the directory that holds the documents (a single file is a file source)")
        }
        self.root = root
        self.glob = glob
        let walker = try DirectoryWalker(root: root, glob: glob)
        var count = 0
        while try walker.next() { count += 1 }
        knownCount = count
    }

    public func makeIterator() throws -> any DocumentIterator {
        DirectoryIterator(walker: try DirectoryWalker(root: root, glob: glob))
    }
}

final class DirectoryIterator: DocumentIterator {
    private let walker: DirectoryWalker

    init(walker: DirectoryWalker) { self.walker = walker }

    func next() throws -> Document? {
        guard try walker.next() else { return nil }
        let path = walker.currentPath
        return Document(id: path, path: path)
    }
}

/// The depth-first walk behind `DirectorySource`: one sorted directory
/// listing per level of the current path. Directories are read whole with
/// opendir/readdir and closed at once, so deep trees hold no descriptors.
final class DirectoryWalker {
    private struct Entry {
        var start: Int  // offset of the NUL-terminated name in `Level.names`
        var length: Int
        var type: UInt8  // d_type
    }

    private struct Level {
        var names: [UInt8]
        var entries: [Entry]
        var next = 0
        /// Length of `path` up to and including this directory's trailing "/".
        var pathLength: Int
    }

    private var levels: [Level] = []
    /// The path of the current entry: root prefix + relative path (no NUL).
    private var path: [UInt8]
    /// Length of the root prefix ("samples/") in `path`.
    private let prefixLength: Int

    private let pattern: [CChar]?
    /// The pattern without its leading "**/", tried as well.
    private let topLevelPattern: [CChar]?
    private let matchesRelativePath: Bool

    /// Lists the root; throws if it cannot be read.
    init(root: String, glob: String?) throws {
        var prefix = FileNameBytes.bytes(root)
        while prefix.count > 1 && prefix.last == UInt8(ascii: "/") { prefix.removeLast() }
        if prefix != [UInt8(ascii: "/")] { prefix.append(UInt8(ascii: "/")) }
        path = prefix
        prefixLength = prefix.count

        if var glob {
            while glob.hasBytePrefix("./") { glob = String(glob.utf8.dropFirst(2))! }
            let bytes = FileNameBytes.bytes(glob)  // a pattern may hold bytes that are not UTF-8 too
            pattern = (bytes + [0]).map { CChar(bitPattern: $0) }
            matchesRelativePath = bytes.contains(UInt8(ascii: "/"))
            topLevelPattern = glob.hasBytePrefix("**/") ? (bytes.dropFirst(3) + [0]).map { CChar(bitPattern: $0) } : nil
        } else {
            pattern = nil
            topLevelPattern = nil
            matchesRelativePath = false
        }

        guard let level = try list(isRoot: true) else {
            throw BatchCoreError(.notFound, "directory '\(root)' does not exist any more; check the path")
        }
        levels.append(level)
    }

    /// The path of the file `next()` stopped at.
    var currentPath: String { FileNameBytes.string(path) }

    /// Moves to the next matching file; false when the walk is over.
    func next() throws -> Bool {
        while !levels.isEmpty {
            let top = levels.count - 1
            let index = levels[top].next
            guard index < levels[top].entries.count else {
                levels.removeLast()
                continue
            }
            levels[top].next += 1
            let entry = levels[top].entries[index]
            path.removeSubrange(levels[top].pathLength...)
            levels[top].names.withUnsafeBufferPointer {
                path.append(contentsOf: UnsafeBufferPointer(rebasing: $0[entry.start..<entry.start + entry.length]))
            }

            var type = entry.type
            if type == UInt8(DT_UNKNOWN) { type = typeFromLstat() }
            switch type {
            case UInt8(DT_REG):
                break
            case UInt8(DT_DIR):
                if var level = try list(isRoot: false) {
                    path.append(UInt8(ascii: "/"))
                    level.pathLength = path.count
                    levels.append(level)
                }
                continue
            case UInt8(DT_LNK):
                // Follow links to files, not to directories; keep dangling links.
                var st = stat()
                let err = withCPath { stat($0, &st) == 0 ? 0 : errno }
                if err == 0 {
                    guard st.st_mode & S_IFMT == S_IFREG else { continue }
                } else if err != ENOENT && err != ELOOP && err != ENOTDIR {
                    continue
                }
            default:
                continue  // vanished, FIFO, socket, device
            }
            if matches(entry: entry, in: levels[top]) { return true }
        }
        return false
    }

    private func matches(entry: Entry, in level: Level) -> Bool {
        guard let pattern else { return true }
        if matchesRelativePath {
            path.append(0)
            defer { path.removeLast() }
            return path.withUnsafeBufferPointer { buf in
                buf.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buf.count) { p in
                    let relative = p + prefixLength
                    if fnmatch(pattern, relative, 0) == 0 { return true }
                    if let topLevelPattern, fnmatch(topLevelPattern, relative, 0) == 0 { return true }
                    return false
                }
            }
        }
        return level.names.withUnsafeBufferPointer { buf in
            buf.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buf.count) { p in
                fnmatch(pattern, p + entry.start, 0) == 0
            }
        }
    }

    /// The d_type of the current path from lstat(2), DT_UNKNOWN if it vanished.
    private func typeFromLstat() -> UInt8 {
        var st = stat()
        guard withCPath({ lstat($0, &st) }) == 0 else { return UInt8(DT_UNKNOWN) }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return UInt8(DT_REG)
        case S_IFDIR: return UInt8(DT_DIR)
        case S_IFLNK: return UInt8(DT_LNK)
        default: return UInt8(DT_UNKNOWN)
        }
    }

    private func withCPath<T>(_ body: (UnsafePointer<CChar>) -> T) -> T {
        path.append(0)
        defer { path.removeLast() }
        return path.withUnsafeBufferPointer { buf in
            buf.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buf.count) { body($0) }
        }
    }

    /// Reads and sorts the directory at `path`. Returns nil if it vanished
    /// since its parent was listed (not for the root).
    private func list(isRoot: Bool) throws -> Level? {
        var err: Int32 = 0
        guard let dir = withCPath({ p -> OpaquePointer? in
            let d = opendir(p)
            err = errno
            return d
        }) else {
            if !isRoot && (err == ENOENT || err == ENOTDIR) { return nil }
            var shown = currentPath
            if shown.utf8.count > 1 && shown.hasByteSuffix("/") { shown = String(shown.utf8.dropLast())! }
            if err == ENOENT || err == ENOTDIR {
                throw BatchCoreError(.notFound, "directory '\(shown)' does not exist; check the path")
            }
            throw BatchCoreError(.input, "cannot read directory '\(shown)': \(errnoText(err)); make it readable (chmod u+rx) or move it out of the tree")
        }
        defer { closedir(dir) }
        let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        var names: [UInt8] = []
        var entries: [Entry] = []
        while true {
            errno = 0
            guard let ent = readdir(dir) else {
                if errno != 0 {
                    let err = errno
                    throw BatchCoreError(.io, "cannot list directory '\(currentPath)': \(errnoText(err))")
                }
                break
            }
            let name = (UnsafeRawPointer(ent) + nameOffset).assumingMemoryBound(to: UInt8.self)
            let length = strlen(UnsafeRawPointer(name).assumingMemoryBound(to: CChar.self))
            if name[0] == UInt8(ascii: ".") && (length == 1 || (length == 2 && name[1] == UInt8(ascii: "."))) {
                continue
            }
            entries.append(Entry(start: names.count, length: length, type: ent.pointee.d_type))
            names.append(contentsOf: UnsafeBufferPointer(start: name, count: length + 1))  // with its NUL
        }
        names.withUnsafeBufferPointer { buf in
            let base = buf.baseAddress
            entries.sort { a, b in
                let r = memcmp(base! + a.start, base! + b.start, min(a.length, b.length))
                return r != 0 ? r < 0 : a.length < b.length
            }
        }
        return Level(names: names, entries: entries, pathLength: path.count)
    }
}
