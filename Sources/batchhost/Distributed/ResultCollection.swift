import BatchCore
import BatchCoreRedis
import Glibc

/// `collect`: every committed result of a batch, one output line each, as `run` writes them.
struct ResultCollection {
    let batch: RedisBatch
    let pool: RedisConnectionPool

    /// Writes to `path` (nil or "-": standard output); returns how many lines.
    @discardableResult
    func write(to path: String?, onlyFailed: Bool) throws -> Int {
        let name = path ?? "-"
        let fd: Int32 = name == "-" ? 1 : FileNameBytes.withCString(name) { open($0, O_WRONLY | O_CREAT | O_TRUNC, 0o644) }
        guard fd >= 0 else { throw writeError(name) }
        defer { if fd != 1 { close(fd) } }
        var buffer: [UInt8] = []
        var written = 0
        try redisCall {
            try pool.with { c in
                try RedisResults(batch: batch.id).lines(onlyFailed: onlyFailed, on: c) { line in
                    buffer += line
                    written += 1
                    if buffer.count >= 1 << 16 { try flush(&buffer, fd, name) }
                }
            }
        }
        try flush(&buffer, fd, name)
        return written
    }

    private func flush(_ buffer: inout [UInt8], _ fd: Int32, _ name: String) throws {
        var offset = 0
        while offset < buffer.count {
            let n = buffer.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw writeError(name) }
            offset += n
        }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeError(_ name: String) -> BatchCoreError {
        BatchCoreError(.io, "cannot write '\(name)': \(String(cString: strerror(errno)))")
    }
}
