import Glibc

/// An errno from reading a file.
struct ReadError: Error {
    let code: Int32
}

/// The whole content of a file: a manifest holding a JSON array, a
/// declaration, or a document passed to a declared function as `bytes`.
func readWholeFile(_ path: String) throws(ReadError) -> [UInt8] {
    let fd = FileNameBytes.withCString(path) { open($0, O_RDONLY | O_CLOEXEC) }
    guard fd >= 0 else { throw ReadError(code: errno) }
    defer { close(fd) }
    return try readAll(fd)
}

/// Everything left to read from `fd`, in one array sized from fstat.
func readAll(_ fd: Int32) throws(ReadError) -> [UInt8] {
    var info = stat()
    var bytes: [UInt8] = []
    if fstat(fd, &info) == 0 && info.st_size > 0 { bytes.reserveCapacity(Int(info.st_size)) }
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            throw ReadError(code: errno)
        }
        if n == 0 { return bytes }
        bytes.append(contentsOf: chunk[0..<n])
    }
}
