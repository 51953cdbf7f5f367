import Glibc

/// A private file in $TMPDIR (or /tmp), readable by its owner only.
enum TemporaryFile {
    static func create(prefix: String) throws(BatchCoreError) -> (fd: Int32, path: String) {
        let dir = getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array((dir + "/\(prefix).XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw BatchCoreError(.io, "cannot create a temporary file in '\(dir)': \(errnoText(errno))")
        }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)  // kept out of spawned commands
        return (fd, template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
    }
}
