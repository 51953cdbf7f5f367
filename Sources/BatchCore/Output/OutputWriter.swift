import Glibc

/// Appends one JSON object per finished document to the output file
/// (JSON Lines). Shared by the workers; each line is written whole.
final class OutputWriter: @unchecked Sendable {  // unchecked: the FILE and the first failure are only reached under monitor
    private let file: UnsafeMutablePointer<FILE>
    private let path: String
    private let monitor = Monitor()
    private var failure: BatchCoreError? = nil

    /// `path` "-" writes to standard output (`StandardOutput`). With `keeping`, the file is cut
    /// to that many bytes and appended to (resuming a journaled run).
    init(path: String, keeping length: Int64? = nil) throws {
        if let length, path != "-", truncate(path, Int(length)) != 0 {
            throw BatchCoreError(.io, "cannot cut the output file '\(path)' back to \(length) bytes: \(errnoText())")
        }
        let opened = path == "-" ? fdopen(dup(StandardOutput.descriptor), "w") : fopen(path, length == nil ? "w" : "a")
        guard let file = opened else {
            throw BatchCoreError(.io, "cannot write the output file '\(path)': \(errnoText()); check that its directory exists and is writable")
        }
        self.file = file
        self.path = path
    }

    deinit { fclose(file) }

    /// Writes one result; returns the first write error, if any happened.
    func write(_ result: DocumentResult) -> BatchCoreError? {
        write(lines: Self.line(for: result))
    }

    /// Writes whole lines; returns the first write error, if any happened.
    func write(lines line: [UInt8]) -> BatchCoreError? {
        monitor.withLock {
            if let failure { return failure }
            let written = line.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, file) }
            if written != line.count { failure = writeError() }
            return failure
        }
    }

    /// Flushes to the file system; returns a write error, if any happened.
    func flush() -> BatchCoreError? {
        monitor.withLock {
            if failure == nil, fflush(file) != 0 { failure = writeError() }
            return failure
        }
    }

    /// Bytes in the file so far (after a flush).
    var offset: Int64 { monitor.withLock { Int64(ftello(file)) } }

    private func writeError() -> BatchCoreError {
        BatchCoreError(.io, "cannot write the output file '\(path)': \(errnoText()); free some space or choose another --output")
    }

    /// The output's format: JSON Lines, which resuming (`OutputRecovery`)
    /// and `JournalRecovery` read back line by line.
    static let format = JSONLFormat()

    /// One result as the output's line.
    static func line(for result: DocumentResult) -> [UInt8] {
        format.record(for: result)
    }
}
