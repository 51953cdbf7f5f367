import Glibc

/// Reads a `FILE*` one line at a time with getline(3), reusing one buffer, so
/// a file of any size is streamed in constant memory. Used by the manifest
/// (JSONL) and list sources.
final class LineReader {
    /// The name used in messages (the path as the user gave it, or "<stdin>").
    let name: String
    /// 1-based number of the line last returned by `next()`.
    private(set) var lineNumber = 0

    private let file: UnsafeMutablePointer<FILE>
    private var buffer: UnsafeMutablePointer<CChar>? = nil
    private var capacity = 0

    /// Takes ownership of `file` (closed on deinit).
    init(file: UnsafeMutablePointer<FILE>, name: String) {
        self.file = file
        self.name = name
        // A larger stdio buffer than the default 4 KiB halves the read calls on big manifests.
        setvbuf(file, nil, _IOFBF, 1 << 16)
    }

    /// Opens a regular file for reading, with errors that say what to do.
    /// `what` names the file's role in messages ("manifest", "list file").
    convenience init(path: String, what: String) throws {
        self.init(file: try openForReading(path, what: what), name: path)
    }

    deinit {
        free(buffer)
        fclose(file)
    }

    /// The next line without its "\n" (and without a "\r" before it), valid
    /// until the next call; nil at the end of the file.
    func next() throws -> UnsafeBufferPointer<UInt8>? {
        let n = getline(&buffer, &capacity, file)
        guard n >= 0, let buffer else {
            if ferror(file) != 0 {
                let err = errno
                throw BatchCoreError(.io, "cannot read '\(name)' after line \(lineNumber): \(errnoText(err))")
            }
            return nil
        }
        lineNumber += 1
        var length = n
        let bytes = UnsafeRawPointer(buffer).assumingMemoryBound(to: UInt8.self)
        if length > 0 && bytes[length - 1] == 0x0A { length -= 1 }
        if length > 0 && bytes[length - 1] == 0x0D { length -= 1 }
        return UnsafeBufferPointer(start: bytes, count: length)
    }
}

/// Opens `path` for reading (close-on-exec). A missing file is `.notFound`; a
/// directory or an unreadable file is `.input`.
func openForReading(_ path: String, what: String) throws -> UnsafeMutablePointer<FILE> {
    guard !path.isEmpty else {
        throw BatchCoreError(.invalidArgument, "the \(what) path is empty; give the path of a file")
    }
    guard let file = FileNameBytes.withCString(path, { fopen($0, "re") }) else {
        let err = errno
        if err == ENOENT || err == ENOTDIR {
            throw BatchCoreError(.notFound, "\(what) '\(path)' does not exist; check the path\(relativeHint(path))")
        }
        throw BatchCoreError(.input, "cannot open \(what) '\(path)': \(errnoText(err)); check that it is a readable file")
    }
    var st = stat()
    if fstat(fileno(file), &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR {
        fclose(file)
        throw BatchCoreError(.input, "\(what) '\(path)' is a directory; give a file (use a directory source to process every file under a directory)")
    }
    return file
}

/// " (relative to <cwd>)" for relative paths, so a "does not exist" message
/// says where the engine looked.
func relativeHint(_ path: String) -> String {
    guard !isAbsolutePath(path) else { return "" }
    var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    guard getcwd(&buf, buf.count) != nil else { return "" }
    let cwd = buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    return " (relative paths are resolved against '\(cwd)')"
}

/// `text` in double quotes for a message, shortened if very long.
func quotedForMessage(_ text: String) -> String {
    let limit = 120
    if text.utf8.count <= limit { return "\"\(text)\"" }
    return "\"\(text.prefix(limit))…\""
}
