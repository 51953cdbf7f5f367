import Glibc

/// A private temporary file holding an in-memory document's bytes, for a
/// command that wants a path (`{}`). Removed by `remove()`.
struct ContentFile {
    let path: String

    /// Writes `content` to a new file in $TMPDIR (or /tmp), readable by its owner only.
    init(_ content: [UInt8]) throws(BatchCoreError) {
        let fd: Int32
        do {
            (fd, path) = try TemporaryFile.create(prefix: "batchcore-content")
        } catch {
            throw BatchCoreError(.io, error.message + " for the document's content")
        }
        defer { close(fd) }
        var written = 0
        while written < content.count {
            let n = content.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
            guard n > 0 else {
                let err = errno
                unlink(path)
                throw BatchCoreError(.io, "cannot write the document's content to '\(path)': \(errnoText(err))")
            }
            written += n
        }
    }

    func remove() { unlink(path) }
}
