import Glibc

/// A private temporary file holding an in-memory document's bytes, for a
/// command that wants a path (`{}`). Removed by `remove()`.
struct ContentFile {
    let path: String

    /// Writes `content` to a new file in $TMPDIR (or /tmp), readable by its owner only.
    init(_ content: [UInt8]) throws(BatchCoreError) {
        let dir = getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array((dir + "/batchcore-content.XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw BatchCoreError(.io, "cannot create a temporary file in '\(dir)' for the document's content: \(errnoText(errno))")
        }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)  // spawned commands close it anyway; this keeps it out of other children
        path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
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
