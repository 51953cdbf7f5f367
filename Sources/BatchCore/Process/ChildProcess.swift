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
        /// "KEY=VALUE" entries added to the inherited environment.
        public var environment: [String] = []

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

    /// Why the child was stopped before it ended by itself.
    public enum StopReason: Sendable, Equatable {
        case cancelled
        case deadline
        case outputLimit
    }

    public struct Result: Sendable {
        public var pid: pid_t
        public var exit: ChildExit
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

        let running = try spawn(request)
        defer { sawEPIPE = running.sawEPIPE }
        return running.collect(isCancelled: isCancelled)
    }

    // MARK: Spawning

    private static func spawn(_ request: Request) throws(SpawnError) -> RunningChild {
        let program = request.argv.first ?? ""
        guard !program.isEmpty else {
            throw SpawnError(program: program, errno: ENOENT, message: "cannot run '': the program name is empty")
        }
        let pipes = try ChildPipes(program: program, withStdin: request.stdin != nil)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let cwd = request.cwd {
            _ = FileNameBytes.withCString(cwd) { bc_shim_spawn_addchdir(&actions, $0) }
        }
        pipes.addChildEnds(to: &actions)
        _ = bc_shim_spawn_addclosefrom(&actions, 3)

        let spawned = SpawnedChild.spawn(request.argv, searchPath: true, environment: request.environment, actions: &actions)
        pipes.closeChildEnds()  // the child holds them now (or never will)
        switch spawned {
        case .failure(let failure):
            pipes.closeParentEnds()
            throw spawnFailure(program, failure.code, request.cwd)
        case .success(let child):
            return RunningChild(child, pipes: pipes, request: request)
        }
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
}

/// The pipes to a child's stdin (when it is given bytes), stdout and
/// stderr: the child's end, then ours.
struct ChildPipes {
    var stdin: (read: Int32, write: Int32)?
    var stdout: (read: Int32, write: Int32)
    var stderr: (read: Int32, write: Int32)

    init(program: String, withStdin: Bool) throws(ChildProcess.SpawnError) {
        func failure() -> ChildProcess.SpawnError {
            ChildProcess.SpawnError(program: program, errno: errno,
                                    message: "cannot run '\(program)': cannot create a pipe: \(errnoText())")
        }
        var opened: [Int32] = []
        func open() throws(ChildProcess.SpawnError) -> (read: Int32, write: Int32) {
            guard let pipe = Descriptors.pipe() else {
                let error = failure()
                opened.forEach { close($0) }
                throw error
            }
            opened += [pipe.read, pipe.write]
            return pipe
        }
        stdin = withStdin ? try open() : nil
        stdout = try open()
        stderr = try open()
    }

    /// The child's stdin is its pipe or /dev/null; stdout and stderr are pipes.
    func addChildEnds(to actions: inout posix_spawn_file_actions_t) {
        if let stdin {
            posix_spawn_file_actions_adddup2(&actions, stdin.read, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, stdout.write, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr.write, 2)
    }

    func closeChildEnds() {
        close(stdout.write)
        close(stderr.write)
        if let stdin { close(stdin.read) }
    }

    func closeParentEnds() {
        close(stdout.read)
        close(stderr.read)
        if let stdin { close(stdin.write) }
    }
}
