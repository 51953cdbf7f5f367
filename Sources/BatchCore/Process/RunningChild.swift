import CBatchCore
import Glibc

/// A child `ChildProcess.run` started, served until it is gone: a
/// `poll(2)` loop feeds its stdin, reads its stdout and stderr, and watches
/// for its exit, cancellation and the deadline. Used by one thread.
final class RunningChild {
    private let child: SpawnedChild
    private let request: ChildProcess.Request
    /// Polls readable when the child exits; -1 where pidfds are missing
    /// (then the loop polls the child's state with a short back-off).
    private var pidfd: Int32
    private var stdin: Int32
    private var stdout: Int32
    private var stderr: Int32
    /// Someone else reaped the child: its pid may already name another
    /// process, so it must not be signalled any more.
    private var reapedElsewhere = false

    private static let chunk = 64 << 10
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: RunningChild.chunk, alignment: 16)
    private var out: [UInt8] = []
    private var err: [UInt8] = []
    private var errCount = 0
    private var written = 0
    private var stopped: ChildProcess.StopReason? = nil
    /// SIGTERM sent; SIGKILL due then.
    private var killAt: UInt64? = nil
    private var killed = false
    /// A write to stdin met EPIPE (so a SIGPIPE may be pending).
    private(set) var sawEPIPE = false

    init(_ child: SpawnedChild, pipes: ChildPipes, request: ChildProcess.Request) {
        self.child = child
        self.request = request
        stdin = pipes.stdin?.write ?? -1
        stdout = pipes.stdout.read
        stderr = pipes.stderr.read
        for fd in [stdin, stdout, stderr] where fd >= 0 {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        // Our child stays unreaped until we wait for it, so the pid cannot
        // be reused before this: the pidfd names exactly this child.
        pidfd = bc_shim_pidfd_open(child.pid)
    }

    deinit {
        for fd in [pidfd, stdin, stdout, stderr] where fd >= 0 { close(fd) }
        buffer.deallocate()
    }

    /// Serves the child until it exits, then collects it.
    func collect(isCancelled: () -> Bool) -> ChildProcess.Result {
        let input = request.stdin ?? []
        if stdin >= 0 && input.isEmpty { closeStdin() }
        var idleMs: Int32 = 1  // back-off without a pidfd
        var exited = false
        while !exited {
            enforceLimits(isCancelled: isCancelled)
            exited = pollOnce(input: input, idleMs: &idleMs)
        }
        return finish()
    }

    // MARK: The loop

    /// Stops the child when cancelled or past its deadline, and kills it
    /// once the grace after SIGTERM is over.
    private func enforceLimits(isCancelled: () -> Bool) {
        if stopped == nil {
            if isCancelled() { stop(.cancelled) }
            else if let deadline = request.deadline, monotonicNanos() >= deadline { stop(.deadline) }
        }
        if let due = killAt, !killed, monotonicNanos() >= due {
            if !reapedElsewhere { child.signalGroup(SIGKILL) }
            killed = true
        }
        if stopped != nil && stdin >= 0 { closeStdin() }
    }

    /// Waits up to 50 ms for the pipes or the child; returns true once it exited.
    private func pollOnce(input: [UInt8], idleMs: inout Int32) -> Bool {
        var fds: [pollfd] = []
        for (fd, events) in [(stdin, POLLOUT), (stdout, POLLIN), (stderr, POLLIN), (pidfd, POLLIN)] where fd >= 0 {
            fds.append(pollfd(fd: fd, events: Int16(events), revents: 0))
        }
        // Wake at least every 50 ms to see cancellation. Without a pidfd,
        // the child's exit shows only by asking, so ask soon once its
        // pipes are closed.
        var timeout: Int32 = 50
        if pidfd < 0 && stdout < 0 && stderr < 0 {
            timeout = idleMs
            idleMs = min(idleMs * 2, 50)
        }
        let ready = fds.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), timeout) }
        // Timeout or EINTR: look at the child and the flags again.
        guard ready > 0 else { return hasExited() }
        var exited = false
        for ready in fds where ready.revents != 0 {
            switch ready.fd {
            case stdin: writeSome(input)
            case stdout: if !readSome(stdout, isStdout: true) { close(stdout); stdout = -1 }
            case stderr: if !readSome(stderr, isStdout: false) { close(stderr); stderr = -1 }
            default: exited = hasExited()
            }
        }
        return exited || (pidfd < 0 && hasExited())
    }

    /// True once the child has exited; it stays a zombie (not reaped),
    /// so its pid — the group id — cannot be reused while we signal it.
    private func hasExited() -> Bool {
        switch child.state() {
        case .running: return false
        case .exited: return true
        case .reapedElsewhere:
            reapedElsewhere = true
            return true
        }
    }

    private func stop(_ reason: ChildProcess.StopReason) {
        guard stopped == nil else { return }
        stopped = reason
        if !reapedElsewhere { child.signalGroup(SIGTERM) }
        killAt = monotonicNanos() + request.killGraceNanos
    }

    private func closeStdin() {
        close(stdin)
        stdin = -1
    }

    // MARK: Reading and writing

    /// Reads what `fd` has now. Returns false at EOF or on error.
    private func readSome(_ fd: Int32, isStdout: Bool) -> Bool {
        while true {
            let n = read(fd, buffer.baseAddress, Self.chunk)
            if n > 0 {
                let bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
                if isStdout {
                    if !keepStdout(bytes) { return false }
                } else {
                    keepStderr(bytes)
                }
                if n < Self.chunk { return true }
                continue
            }
            if n == 0 { return false }
            if errno == EINTR { continue }
            return errno == EAGAIN || errno == EWOULDBLOCK
        }
    }

    /// Keeps stdout bytes up to the limit; false once it is reached.
    private func keepStdout(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if stopped == .outputLimit { return true }  // discard
        guard out.count + bytes.count <= request.maxStdout else {
            out.append(contentsOf: bytes.prefix(request.maxStdout - out.count))
            stop(.outputLimit)
            return false  // closing our end stops a writer that ignores SIGTERM
        }
        out.append(contentsOf: bytes)
        return true
    }

    /// Keeps the tail of stderr (trimmed when twice the tail, not each read).
    private func keepStderr(_ bytes: UnsafeRawBufferPointer) {
        errCount += bytes.count
        err.append(contentsOf: bytes)
        if err.count > 2 * request.stderrTail {
            err.removeFirst(err.count - request.stderrTail)
        }
    }

    private func writeSome(_ input: [UInt8]) {
        while written < input.count {
            let n = input.withUnsafeBytes { raw in
                write(stdin, raw.baseAddress! + written, input.count - written)
            }
            if n > 0 { written += n; continue }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            if n < 0 && errno == EPIPE { sawEPIPE = true }
            break  // the child closed its stdin: it does not want the rest
        }
        closeStdin()
    }

    // MARK: The end

    /// The child has exited. Kill what it left in its group, then take what
    /// is still in the pipes, without waiting for writers that are outside
    /// the group, and reap it.
    private func finish() -> ChildProcess.Result {
        if !reapedElsewhere { child.signalGroup(SIGKILL) }
        if stdout >= 0 { _ = readSome(stdout, isStdout: true) }
        if stderr >= 0 { _ = readSome(stderr, isStdout: false) }
        for fd in [pidfd, stdin, stdout, stderr] where fd >= 0 { close(fd) }
        pidfd = -1; stdin = -1; stdout = -1; stderr = -1
        let exit = reapedElsewhere ? .unknown : child.killGroupAndReap()
        if err.count > request.stderrTail { err.removeFirst(err.count - request.stderrTail) }
        return ChildProcess.Result(pid: child.pid, exit: exit, stdout: out, stderr: err,
                                   stderrCount: errCount, stopped: stopped)
    }
}
