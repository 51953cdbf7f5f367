import BatchCore
import Glibc

/// Results bound for the terminal the live progress line is drawn on pass
/// through here: the results' standard output (`StandardOutput`) becomes a pipe, and a thread copies what
/// arrives to the terminal with the progress line moved out of the way.
final class ResultRelay: @unchecked Sendable {  // unchecked: the descriptors are set in init; running is only reached under stopped
    private let progress: ProgressDisplay
    /// The terminal standard output was, duplicated.
    private let terminal: Int32
    private let results: Int32
    /// Written once by `finish`: copy what is left, then stop.
    private let wake: (read: Int32, write: Int32)
    private let stopped = Monitor()
    private var running = true

    /// Starts relaying when results and the live line share a terminal.
    static func start(progress: ProgressDisplay) -> ResultRelay? {
        guard progress.mode == .live, Terminal.same(StandardOutput.descriptor, 2) else { return nil }
        // Made before the batch starts, so no child can inherit them while
        // they are not yet close-on-exec.
        var results: [Int32] = [0, 0], wake: [Int32] = [0, 0]
        guard pipe(&results) == 0 else { return nil }
        guard pipe(&wake) == 0 else {
            results.forEach { close($0) }
            return nil
        }
        (results + wake).forEach { _ = fcntl($0, F_SETFD, FD_CLOEXEC) }
        let terminal = fcntl(StandardOutput.descriptor, F_DUPFD_CLOEXEC, 3)
        dup2(results[1], StandardOutput.descriptor)
        close(results[1])
        let relay = ResultRelay(progress: progress, terminal: terminal, results: results[0], wake: (wake[0], wake[1]))
        startThread(name: "bc-results") { relay.copy() }
        return relay
    }

    private init(progress: ProgressDisplay, terminal: Int32, results: Int32, wake: (read: Int32, write: Int32)) {
        self.progress = progress
        self.terminal = terminal
        self.results = results
        self.wake = wake
    }

    /// Gives standard output back to the terminal and returns once every
    /// result written so far is on it. Call after the output was flushed.
    func finish() {
        dup2(terminal, StandardOutput.descriptor)
        var byte: UInt8 = 1
        _ = write(wake.write, &byte, 1)
        stopped.withLock { while running { stopped.wait() } }
    }

    private func copy() {
        var pending: [UInt8] = []
        var fds = [pollfd(fd: results, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)]
        while poll(&fds, 2, -1) >= 0 || errno == EINTR {
            if fds[0].revents != 0 && !readLines(into: &pending) { break }
            if fds[1].revents != 0 {
                // Everything flushed is in the pipe: copy it and stop, without
                // waiting for an end of file a child may hold back.
                _ = fcntl(results, F_SETFL, O_NONBLOCK)
                while readLines(into: &pending) {}
                break
            }
        }
        if !pending.isEmpty { pending.withUnsafeBytes { progress.write($0, to: terminal) } }
        stopped.withLock { running = false }
        stopped.broadcast()
    }

    /// Reads once and shows the whole lines read so far; false at the end
    /// of the input (or when nothing is there to read).
    private func readLines(into pending: inout [UInt8]) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { read(results, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { return true }
        guard n > 0 else { return false }
        pending += chunk[..<n]
        // Only whole lines: the progress line is drawn again after each write.
        guard let end = pending.lastIndex(of: UInt8(ascii: "\n")) else { return true }
        pending[...end].withUnsafeBytes { progress.write($0, to: terminal) }
        pending.removeSubrange(...end)
        return true
    }
}
