import CBatchCore
import Glibc

/// One worker process, seen from the engine: started from the
/// `batchcore-worker` executable with its end of a socketpair on fd 3,
/// spoken to in frames, stopped, and always reaped. Used by one thread at a
/// time (the worker thread that checked it out).
///
/// The worker runs in a process group of its own, so a Ctrl-C at the
/// terminal reaches the engine only (it decides what stops), and stopping a
/// worker stops whatever it started too.
final class WorkerProcess: @unchecked Sendable {  // unchecked: checked out by one thread at a time (see above); the pool that hands it over is locked
    let child: SpawnedChild
    private var socket: Int32
    private var inbox = FrameBuffer()
    private let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
    /// What the worker's crash handler reported before it died.
    private(set) var dying: DyingReport? = nil
    private var exit: ChildExit? = nil
    /// Documents this worker has processed (for `worker.max_documents`).
    var documents = 0
    /// The list price the processor's create() gave, if any.
    private(set) var listPrices: TokenPrices? = nil
    /// What the processor's prepare() made in this worker, if it ran here.
    private(set) var prepared: [UInt8]? = nil

    /// How waiting for the worker ended.
    enum Wait {
        case frame(FrameReader)
        /// The worker closed its end: it died or exited.
        case closed
        case deadline
        case cancelled
    }

    private init(_ child: SpawnedChild, socket: Int32) {
        self.child = child
        self.socket = socket
    }

    deinit {
        if socket >= 0 { close(socket) }
        if exit == nil { _ = reap(until: monotonicNanos()) }  // never leave a zombie behind
        chunk.deallocate()
    }

    // MARK: Starting

    /// The helper executable: `$BATCHCORE_WORKER`, else beside the binary
    /// holding the engine (libbatchcore.so, or batchhost), in its
    /// `batchcore/` folder, or in `../lib/batchcore/` when that is a `bin`.
    static func executable() throws -> String {
        if let given = getenv("BATCHCORE_WORKER").map({ String(cString: $0) }), !given.isEmpty {
            guard access(given, X_OK) == 0 else {
                throw BatchCoreError(.notFound, "BATCHCORE_WORKER names '\(given)', which is not an executable: \(errnoText())")
            }
            return given
        }
        let candidates = PluginSearchPath.bundledDirectories.flatMap { dir in
            [dir + "/batchcore-worker", dir + "/batchcore/batchcore-worker"]
        }
        if let found = candidates.first(where: { access($0, X_OK) == 0 }) { return found }
        throw BatchCoreError(.notFound,
            "isolation=process needs the batchcore-worker executable, built and installed with the library; looked for: "
            + candidates.joined(separator: ", ") + " (or set $BATCHCORE_WORKER)")
    }

    /// Starts a worker and has it load and create the stage's processor.
    /// Throws when it cannot start or create() refuses (with the plugin's
    /// message), or when `deadline` passes first.
    static func start(command: WorkerCommand, request: StartRequest, deadline: UInt64?,
                      isCancelled: () -> Bool = { false }, grace: Double) throws -> WorkerProcess {
        let worker = try spawn(command)
        let refused: String
        switch worker.send(request.encode(), until: deadline) ?? worker.receive(until: deadline, isCancelled: isCancelled) {
        case .frame(var frame) where frame.kind == .ready:
            guard let ready = try? ReadyReport(&frame) else {
                _ = worker.terminate(grace: grace)
                throw BatchCoreError(.plugin, "the worker process answered its start with a malformed ready frame")
            }
            worker.listPrices = ready.prices
            worker.prepared = ready.prepared
            return worker
        case .frame(var frame) where frame.kind == .refused:
            refused = (try? frame.string()) ?? "create() failed"
            _ = worker.retire(grace: grace)
            throw BatchCoreError(.plugin, refused)
        case .closed:
            let exit = worker.reap(until: monotonicNanos() + 1_000_000_000)
            throw BatchCoreError(.plugin, "the worker process could not start the processor: "
                + worker.deathMessage(exit, memoryLimit: request.memoryLimit) + command.startFailureHint)
        case .deadline:
            _ = worker.terminate(grace: grace)
            throw BatchCoreError(.timeout, "the worker process did not start the processor in time")
        case .cancelled:
            _ = worker.terminate(grace: grace)
            throw BatchCoreError(.state, "cancelled")
        case .frame:
            _ = worker.terminate(grace: grace)
            throw BatchCoreError(.plugin, "the worker process answered its start with an unexpected frame")
        }
    }

    private static func spawn(_ command: WorkerCommand) throws -> WorkerProcess {
        let fd = WorkerServer.socketDescriptor
        // The child's end must not be fd 3 already: dup2(3, 3) would keep it close-on-exec.
        guard let (ours, theirs) = Descriptors.socketPair(above: fd) else {
            throw BatchCoreError(.io, "cannot start a worker process: socketpair: \(errnoText())")
        }
        defer { close(theirs) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        // What a plugin prints goes to our stderr: our stdout may carry results.
        posix_spawn_file_actions_adddup2(&actions, 2, 1)
        posix_spawn_file_actions_adddup2(&actions, theirs, fd)
        _ = bc_shim_spawn_addclosefrom(&actions, fd + 1)
        switch SpawnedChild.spawn(command.argv + ["--serve-fd", "\(fd)"], searchPath: false,
                                  environment: command.environment, actions: &actions) {
        case .success(let child):
            return WorkerProcess(child, socket: ours)
        case .failure(let failure):
            close(ours)
            throw BatchCoreError(.io, "cannot start the worker process '\(command.argv[0])': \(errnoText(failure.code))")
        }
    }

    // MARK: Talking

    /// Sends one frame; nil once it is sent, else why it could not be.
    func send(_ frame: [UInt8], until deadline: UInt64?) -> Wait? {
        var offset = 0
        return frame.withUnsafeBytes { raw in
            while offset < raw.count {
                let n = Glibc.send(socket, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
                if n > 0 { offset += n; continue }
                if n < 0 && errno == EINTR { continue }
                guard n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) else { return .closed }
                guard let wait = waitMs(until: deadline) else { return .deadline }
                var p = pollfd(fd: socket, events: Int16(POLLOUT), revents: 0)
                _ = poll(&p, 1, wait)
            }
            return nil
        }
    }

    /// The next frame from the worker. Waits until `deadline` (monotonic
    /// nanoseconds; nil: no limit), asking `isCancelled` about every 50 ms.
    func receive(until deadline: UInt64?, isCancelled: () -> Bool = { false }) -> Wait {
        while true {
            do {
                if var frame = try inbox.next() {
                    if frame.kind == .dying, let report = try? DyingReport(&frame) { dying = report; continue }
                    return .frame(frame)
                }
            } catch {
                return .closed  // garbage on the socket: treat the worker as lost
            }
            if isCancelled() { return .cancelled }
            guard let wait = waitMs(until: deadline) else { return .deadline }
            var p = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, wait) > 0 else { continue }
            let n = recv(socket, chunk.baseAddress, chunk.count, Int32(MSG_DONTWAIT))
            if n > 0 {
                inbox.append(UnsafeRawBufferPointer(rebasing: chunk[0..<n]))
            } else if n == 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
                return .closed
            }
        }
    }

    /// Milliseconds to poll before looking at the flags again; nil once the deadline passed.
    private func waitMs(until deadline: UInt64?) -> Int32? {
        guard let deadline else { return 50 }
        let now = monotonicNanos()
        guard now < deadline else { return nil }
        return Int32(min(50, (deadline - now + 999_999) / 1_000_000))
    }

    // MARK: Stopping

    /// True while the worker has not exited.
    var isAlive: Bool { exit == nil && child.state() == .running }

    /// Lets the worker finish cleanly: closing our end makes it run
    /// destroy() and exit. SIGKILL after `grace` seconds.
    @discardableResult
    func retire(grace: Double) -> ChildExit {
        closeSocket()
        return reap(until: monotonicNanos() + UInt64(grace * 1e9))
    }

    /// Stops the worker: SIGTERM (a call in progress sees `is_cancelled`),
    /// SIGKILL after `grace` seconds, then reaps it.
    @discardableResult
    func terminate(grace: Double) -> ChildExit {
        if exit == nil { child.signalGroup(SIGTERM) }
        let deadline = monotonicNanos() + UInt64(grace * 1e9)
        // Keep reading while it winds down, so a worker writing its last
        // frames is not blocked by a full socket.
        while socket >= 0, case .frame = receive(until: deadline) {}
        return reap(until: deadline)
    }

    func closeSocket() {
        if socket >= 0 { close(socket) }
        socket = -1
    }

    /// Waits for the worker to exit until `deadline`, then kills its process
    /// group and collects its status. Idempotent.
    @discardableResult
    func reap(until deadline: UInt64) -> ChildExit {
        if let exit { return exit }
        let state = child.waitForExit(until: deadline)
        let result = state == .reapedElsewhere ? .unknown : child.killGroupAndReap()
        closeSocket()
        exit = result
        return result
    }

    /// Why a worker ended in the middle of a call, in words for the
    /// document's error: "worker crashed: SIGSEGV", "worker exceeded
    /// worker.memory_limit 512MB (SIGABRT)", "worker exited with status 3".
    func deathMessage(_ exit: ChildExit, memoryLimit: UInt64) -> String {
        let how: String
        switch exit {
        case .signaled(let signal, _): how = ChildExit.signalName(signal)
        case .exited(let status): how = "exit status \(status)"
        case .unknown: how = "status unknown"
        }
        // A failed allocation leaves ENOMEM in errno; a slow leak ends close to the limit.
        if memoryLimit > 0, let dying, dying.errno == ENOMEM || dying.addressSpace >= memoryLimit / 10 * 9 {
            return "worker exceeded worker.memory_limit \(formatByteSize(memoryLimit)) (\(how))"
        }
        switch exit {
        case .signaled: return "worker crashed: \(how)"
        case .exited(let status): return "worker exited with status \(status) during the call"
        case .unknown: return "worker exited during the call"
        }
    }
}

/// A size as a person would write it: 512MB, 1GiB, 65536 bytes (the
/// unit, binary or decimal, that gives the smallest whole number).
func formatByteSize(_ bytes: UInt64) -> String {
    let units: [(String, UInt64)] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10),
                                     ("GB", 1_000_000_000), ("MB", 1_000_000), ("kB", 1_000)]
    let fitting = units.filter { bytes >= $0.1 && bytes % $0.1 == 0 }
    guard let best = fitting.min(by: { bytes / $0.1 < bytes / $1.1 }) else { return "\(bytes) bytes" }
    return "\(bytes / best.1)\(best.0)"
}
