import CBatchCore
import Glibc

/// Runs one external program and collects what it writes.
///
/// The program is started with `posix_spawnp` straight from an argv array —
/// never through a shell, so arguments reach it byte for byte. It runs in a
/// process group of its own (its pid is the group id), which lets the whole
/// tree it starts be signalled at once. Its stdin is the given bytes (or
/// `/dev/null`), its stdout and stderr are pipes read by a `poll(2)` loop that
/// also feeds stdin, so large data in both directions cannot deadlock. It
/// inherits the environment, an empty signal mask, default signal handlers,
/// and no descriptor other than 0, 1 and 2.
///
/// The call blocks the calling thread until the program is gone and reaped.
/// When the program exits, anything it left running in its process group is
/// killed: a document's command leaves no process behind.
public enum ChildProcess {
    /// What to run and how.
    public struct Request: Sendable {
        /// argv[0] is looked up in `PATH` unless it holds a `/`.
        public var argv: [String]
        /// Working directory of the child; nil keeps this process's.
        public var cwd: String?
        /// Bytes for the child's stdin; nil gives it `/dev/null`.
        public var stdin: [UInt8]?
        /// Most stdout bytes to keep; beyond that the child is stopped and
        /// the result says `.outputLimit`.
        public var maxStdout: Int
        /// How many trailing stderr bytes to keep.
        public var stderrTail: Int
        /// Monotonic deadline (see `monotonicNanos()`) after which the child
        /// is stopped and the result says `.deadline`; nil for none.
        public var deadline: UInt64?
        /// Time between SIGTERM and SIGKILL when the child is stopped.
        public var killGraceNanos: UInt64

        public init(argv: [String], cwd: String? = nil, stdin: [UInt8]? = nil,
                    maxStdout: Int = 64 << 20, stderrTail: Int = 64 << 10,
                    deadline: UInt64? = nil, killGraceNanos: UInt64 = 2_000_000_000) {
            self.argv = argv
            self.cwd = cwd
            self.stdin = stdin
            self.maxStdout = maxStdout
            self.stderrTail = stderrTail
            self.deadline = deadline
            self.killGraceNanos = killGraceNanos
        }
    }

    /// How the child ended.
    public enum Exit: Sendable, Equatable {
        case exited(Int32)
        case signaled(Int32, coreDumped: Bool)
        /// The status was lost: something else reaped the child (a host
        /// that sets SIGCHLD to SIG_IGN does).
        case unknown
    }

    /// Why the child was stopped before it ended by itself.
    public enum StopReason: Sendable, Equatable {
        case cancelled
        case deadline
        case outputLimit
    }

    public struct Result: Sendable {
        public var pid: pid_t
        public var exit: Exit
        /// Everything written to stdout (at most `maxStdout` bytes).
        public var stdout: [UInt8]
        /// The last `stderrTail` bytes written to stderr.
        public var stderr: [UInt8]
        /// Total bytes written to stderr.
        public var stderrCount: Int
        /// Set when the child was stopped by us.
        public var stopped: StopReason?
    }

    /// The child could not be started.
    public struct SpawnError: Error, CustomStringConvertible, Sendable, Equatable {
        public let program: String
        public let errno: Int32
        public let message: String
        public var description: String { message }
    }

    /// Runs `request` to the end. `isCancelled` is polled about every 50 ms;
    /// once it returns true the child's process group gets SIGTERM, then
    /// SIGKILL after `killGraceNanos`.
    public static func run(_ request: Request, isCancelled: () -> Bool = { false }) throws(SpawnError) -> Result {
        // Writing to a pipe whose reader has gone raises SIGPIPE; keep it
        // from killing the host: block it on this thread, and consume the
        // one our own writes may leave pending.
        var pipeSet = sigset_t()
        sigemptyset(&pipeSet)
        sigaddset(&pipeSet, SIGPIPE)
        var pending = sigset_t()
        sigpending(&pending)
        let pipePendingBefore = sigismember(&pending, SIGPIPE) == 1
        var oldMask = sigset_t()
        pthread_sigmask(SIG_BLOCK, &pipeSet, &oldMask)
        var sawEPIPE = false
        defer {
            if sawEPIPE && !pipePendingBefore {
                var zero = timespec(tv_sec: 0, tv_nsec: 0)
                _ = sigtimedwait(&pipeSet, nil, &zero)
            }
            pthread_sigmask(SIG_SETMASK, &oldMask, nil)
        }

        var running = try spawn(request)
        return running.collect(request, isCancelled: isCancelled, sawEPIPE: &sawEPIPE)
    }

    /// Sends `signal` to every process of group `pgid` (a child's pid, for
    /// children started here). Returns false when no such group exists.
    /// [thread-safe] Use it from any thread, e.g. to enforce a timeout; the
    /// thread in `run` still reaps the child.
    @discardableResult
    public static func kill(group pgid: pid_t, signal: Int32 = SIGTERM) -> Bool {
        guard pgid > 1 else { return false }
        return Glibc.kill(-pgid, signal) == 0
    }

    /// A short name for a signal: "SIGSEGV", or "signal 42".
    public static func signalName(_ signal: Int32) -> String {
        let names: [Int32: String] = [
            SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL",
            SIGTRAP: "SIGTRAP", SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE",
            SIGKILL: "SIGKILL", SIGUSR1: "SIGUSR1", SIGSEGV: "SIGSEGV", SIGUSR2: "SIGUSR2",
            SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM", SIGTERM: "SIGTERM", SIGCHLD: "SIGCHLD",
            SIGCONT: "SIGCONT", SIGSTOP: "SIGSTOP", SIGTSTP: "SIGTSTP", SIGTTIN: "SIGTTIN",
            SIGTTOU: "SIGTTOU", SIGURG: "SIGURG", SIGXCPU: "SIGXCPU", SIGXFSZ: "SIGXFSZ",
            SIGVTALRM: "SIGVTALRM", SIGPROF: "SIGPROF", SIGWINCH: "SIGWINCH", SIGIO: "SIGIO",
            SIGPWR: "SIGPWR", SIGSYS: "SIGSYS",
        ]
        return names[signal] ?? "signal \(signal)"
    }

    // MARK: Spawning

    /// Opens a close-on-exec pipe whose ends are not 0, 1 or 2 (so the
    /// child's dup2 actions cannot clobber one another).
    private static func makePipe() -> (read: Int32, write: Int32)? {
        var fds: [Int32] = [-1, -1]
        guard bc_shim_pipe_cloexec(&fds) == 0 else { return nil }
        for k in 0..<2 where fds[k] < 3 {
            let moved = fcntl(fds[k], F_DUPFD_CLOEXEC, 3)
            let saved = errno
            close(fds[k])
            guard moved >= 0 else {
                close(fds[1 - k])
                errno = saved
                return nil
            }
            fds[k] = moved
        }
        return (fds[0], fds[1])
    }

    private static func spawnFailure(_ program: String, _ err: Int32, _ cwd: String?) -> SpawnError {
        var message = "cannot run '\(program)': \(errnoText(err))"
        if let cwd, err == ENOENT || err == ENOTDIR || err == EACCES {
            var st = stat()
            if stat(cwd, &st) != 0 || (st.st_mode & S_IFMT) != S_IFDIR {
                message = "cannot run '\(program)': cannot change to directory '\(cwd)': "
                    + (stat(cwd, &st) != 0 ? errnoText() : errnoText(ENOTDIR))
            }
        }
        return SpawnError(program: program, errno: err, message: message)
    }

    private static func spawn(_ request: Request) throws(SpawnError) -> Running {
        let program = request.argv.first ?? ""
        func failure(_ what: String, _ err: Int32 = errno) -> SpawnError {
            SpawnError(program: program, errno: err, message: "cannot run '\(program)': \(what): \(errnoText(err))")
        }
        guard !program.isEmpty else {
            throw SpawnError(program: program, errno: ENOENT, message: "cannot run '': the program name is empty")
        }

        // Pipes: child's end first, parent's end second.
        var opened: [Int32] = []
        var stdinPipe: (read: Int32, write: Int32)? = nil
        if request.stdin != nil {
            guard let p = makePipe() else { throw failure("cannot create a pipe") }
            stdinPipe = p
            opened += [p.read, p.write]
        }
        guard let outPipe = makePipe() else {
            let e = errno; opened.forEach { close($0) }
            throw failure("cannot create a pipe", e)
        }
        opened += [outPipe.read, outPipe.write]
        guard let errPipe = makePipe() else {
            let e = errno; opened.forEach { close($0) }
            throw failure("cannot create a pipe", e)
        }
        opened += [errPipe.read, errPipe.write]

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let cwd = request.cwd {
            _ = FileNameBytes.withCString(cwd) { bc_shim_spawn_addchdir(&actions, $0) }
        }
        if let stdinPipe {
            posix_spawn_file_actions_adddup2(&actions, stdinPipe.read, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, outPipe.write, 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe.write, 2)
        _ = bc_shim_spawn_addclosefrom(&actions, 3)

        let cArgv: [UnsafeMutablePointer<CChar>?] = request.argv.map { FileNameBytes.withCString($0, strdup) } + [nil]
        defer { cArgv.forEach { free($0) } }

        var pid: pid_t = 0
        let rc = withChildSpawnAttributes { attr in
            cArgv.withUnsafeBufferPointer { argv in
                posix_spawnp(&pid, argv[0]!, &actions, &attr, argv.baseAddress!, bc_shim_environ())
            }
        }

        // The child holds its ends now (or never will).
        close(outPipe.write)
        close(errPipe.write)
        if let stdinPipe { close(stdinPipe.read) }

        guard rc == 0 else {
            close(outPipe.read)
            close(errPipe.read)
            if let stdinPipe { close(stdinPipe.write) }
            throw spawnFailure(program, rc, request.cwd)
        }

        for fd in [stdinPipe?.write, outPipe.read, errPipe.read].compactMap({ $0 }) {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        // Our child stays unreaped until we wait for it, so the pid cannot
        // be reused before this: the pidfd names exactly this child.
        let pidfd = bc_shim_pidfd_open(pid)
        return Running(pid: pid, pidfd: pidfd, stdin: stdinPipe?.write ?? -1, stdout: outPipe.read, stderr: errPipe.read)
    }

    // MARK: Collecting

    private struct Running {
        let pid: pid_t
        /// Polls readable when the child exits; -1 where pidfds are missing
        /// (then the loop polls the child's state with a short back-off).
        var pidfd: Int32
        var stdin: Int32
        var stdout: Int32
        var stderr: Int32
        /// Someone else reaped the child: its pid may already name another
        /// process, so it must not be signalled any more.
        var reapedElsewhere = false

        init(pid: pid_t, pidfd: Int32, stdin: Int32, stdout: Int32, stderr: Int32) {
            self.pid = pid
            self.pidfd = pidfd
            self.stdin = stdin
            self.stdout = stdout
            self.stderr = stderr
        }

        /// True once the child has exited; it stays a zombie (not reaped),
        /// so its pid — the group id — cannot be reused while we signal it.
        mutating func hasExited() -> Bool {
            var info = siginfo_t()
            while true {
                let rc = waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT)
                if rc == 0 { return bc_shim_siginfo_pid(&info) == pid }
                if errno == EINTR { continue }
                // ECHILD: reaped elsewhere (a host with SIGCHLD set to SIG_IGN,
                // or one that waits for any child); nothing left to wait for.
                reapedElsewhere = true
                return true
            }
        }

        mutating func closeAll() {
            for fd in [pidfd, stdin, stdout, stderr] where fd >= 0 { close(fd) }
            pidfd = -1; stdin = -1; stdout = -1; stderr = -1
        }

        mutating func collect(_ request: Request, isCancelled: () -> Bool, sawEPIPE: inout Bool) -> Result {
            let chunk = 64 << 10
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
            defer { buffer.deallocate() }

            var out: [UInt8] = []
            var err: [UInt8] = []
            var errCount = 0
            var written = 0
            let input = request.stdin ?? []
            var stopped: StopReason? = nil
            var killAt: UInt64? = nil       // SIGTERM sent; SIGKILL due then
            var killed = false

            if stdin >= 0 && input.isEmpty { close(stdin); stdin = -1 }

            func stop(_ reason: StopReason) {
                guard stopped == nil else { return }
                stopped = reason
                if !reapedElsewhere { ChildProcess.kill(group: pid, signal: SIGTERM) }
                killAt = monotonicNanos() + request.killGraceNanos
            }

            /// Reads what `fd` has now. Returns false at EOF or on error.
            func readSome(_ fd: Int32, isStdout: Bool) -> Bool {
                while true {
                    let n = read(fd, buffer.baseAddress, chunk)
                    if n > 0 {
                        let bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
                        if isStdout {
                            if stopped == .outputLimit { continue }  // discard
                            if out.count + n > request.maxStdout {
                                out.append(contentsOf: bytes.prefix(request.maxStdout - out.count))
                                stop(.outputLimit)
                                return false  // closing our end stops a writer that ignores SIGTERM
                            }
                            out.append(contentsOf: bytes)
                        } else {
                            errCount += n
                            err.append(contentsOf: bytes)
                            if err.count > 2 * request.stderrTail {
                                err.removeFirst(err.count - request.stderrTail)
                            }
                        }
                        if n < chunk { return true }
                        continue
                    }
                    if n == 0 { return false }
                    if errno == EINTR { continue }
                    return errno == EAGAIN || errno == EWOULDBLOCK
                }
            }

            func writeSome() {
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
                close(stdin)
                stdin = -1
            }

            var fds = [pollfd](repeating: pollfd(), count: 4)
            var idleMs: Int32 = 1      // back-off without a pidfd
            var exited = false
            while !exited {
                if stopped == nil {
                    if isCancelled() { stop(.cancelled) }
                    else if let deadline = request.deadline, monotonicNanos() >= deadline { stop(.deadline) }
                }
                if let due = killAt, !killed, monotonicNanos() >= due {
                    if !reapedElsewhere { ChildProcess.kill(group: pid, signal: SIGKILL) }
                    killed = true
                }
                if stopped != nil && stdin >= 0 { close(stdin); stdin = -1 }

                var count = 0
                if stdin >= 0 { fds[count] = pollfd(fd: stdin, events: Int16(POLLOUT), revents: 0); count += 1 }
                if stdout >= 0 { fds[count] = pollfd(fd: stdout, events: Int16(POLLIN), revents: 0); count += 1 }
                if stderr >= 0 { fds[count] = pollfd(fd: stderr, events: Int16(POLLIN), revents: 0); count += 1 }
                if pidfd >= 0 { fds[count] = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0); count += 1 }
                // Wake at least every 50 ms to see cancellation. Without a
                // pidfd, the child's exit shows only by asking, so ask soon
                // once its pipes are closed.
                var timeout: Int32 = 50
                if pidfd < 0 && stdout < 0 && stderr < 0 {
                    timeout = idleMs
                    idleMs = min(idleMs * 2, 50)
                }
                let ready = fds.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t(count), timeout) }
                if ready <= 0 {
                    // Timeout or EINTR: look at the child and the flags again.
                    exited = hasExited()
                    continue
                }

                for k in 0..<count where fds[k].revents != 0 {
                    let fd = fds[k].fd
                    if fd == stdin {
                        writeSome()
                    } else if fd == stdout {
                        if !readSome(fd, isStdout: true) { close(stdout); stdout = -1 }
                    } else if fd == stderr {
                        if !readSome(fd, isStdout: false) { close(stderr); stderr = -1 }
                    } else if fd == pidfd {
                        exited = hasExited()
                    }
                }
                if pidfd < 0 && !exited { exited = hasExited() }
            }

            // The child has exited. Kill what it left in its group, then take
            // what is still in the pipes, without waiting for writers that
            // are outside the group.
            if !reapedElsewhere { ChildProcess.kill(group: pid, signal: SIGKILL) }
            if stdout >= 0 { _ = readSome(stdout, isStdout: true) }
            if stderr >= 0 { _ = readSome(stderr, isStdout: false) }
            closeAll()

            var status: Int32 = 0
            var exit = Exit.unknown
            while !reapedElsewhere {
                let rc = waitpid(pid, &status, 0)
                if rc == pid {
                    if bc_shim_wifexited(status) != 0 {
                        exit = .exited(bc_shim_wexitstatus(status))
                    } else if bc_shim_wifsignaled(status) != 0 {
                        exit = .signaled(bc_shim_wtermsig(status), coreDumped: bc_shim_wcoredump(status) != 0)
                    }
                    break
                }
                if rc < 0 && errno == EINTR { continue }
                break  // ECHILD: someone else reaped it; the status is unknown
            }

            if err.count > request.stderrTail { err.removeFirst(err.count - request.stderrTail) }
            return Result(pid: pid, exit: exit, stdout: out, stderr: err, stderrCount: errCount, stopped: stopped)
        }
    }
}
