import CBatchCore
import Glibc

/// A child process batchcore started and has not reaped yet: the leader of
/// a process group of its own (its pid is the group id), so stopping the
/// group reaches the child's children, and a terminal's Ctrl-C reaches
/// only the host. Used by the exec processor (`ChildProcess`) and by
/// worker processes (`WorkerProcess`).
struct SpawnedChild: Sendable {
    let pid: pid_t

    /// What `state()` found.
    enum State {
        case running
        /// Exited and not reaped: its pid — the group id — cannot be reused
        /// while it is signalled.
        case exited
        /// Reaped elsewhere (a host with SIGCHLD set to SIG_IGN, or one
        /// that waits for any child): its pid may already name another
        /// process, so it must not be signalled any more.
        case reapedElsewhere
    }

    /// Starts `argv` (argv[0] looked up in `PATH` when `searchPath`) with
    /// posix_spawn, `actions` giving its descriptors. It inherits the
    /// environment, an empty signal mask and the usual signals at their
    /// defaults — hosts such as Python ignore SIGPIPE, and ignored signals
    /// survive exec; `environment` ("KEY=VALUE") adds to it or replaces
    /// those keys. Returns the errno of a failed spawn.
    static func spawn(_ argv: [String], searchPath: Bool, environment: [String] = [],
                      actions: inout posix_spawn_file_actions_t) -> Result<SpawnedChild, SpawnErrno> {
        let cArgv: [UnsafeMutablePointer<CChar>?] = argv.map { FileNameBytes.withCString($0, strdup) } + [nil]
        defer { cArgv.forEach { free($0) } }
        let cEnv: [UnsafeMutablePointer<CChar>?] = environment.isEmpty ? [] : mergedEnvironment(environment)
        defer { cEnv.forEach { free($0) } }
        let envp = environment.isEmpty ? bc_shim_environ() : nil
        var pid: pid_t = 0
        let rc = withSpawnAttributes { attr in
            cArgv.withUnsafeBufferPointer { argv in
                cEnv.withUnsafeBufferPointer { env in
                    let environ = envp ?? UnsafeMutablePointer(mutating: env.baseAddress!)
                    return searchPath
                        ? posix_spawnp(&pid, argv[0]!, &actions, &attr, argv.baseAddress!, environ)
                        : posix_spawn(&pid, argv[0]!, &actions, &attr, argv.baseAddress!, environ)
                }
            }
        }
        return rc == 0 ? .success(SpawnedChild(pid: pid)) : .failure(SpawnErrno(code: rc))
    }

    /// This process's environment with `extra` added (replacing the same
    /// keys), as strdup'ed C strings ending with NULL.
    private static func mergedEnvironment(_ extra: [String]) -> [UnsafeMutablePointer<CChar>?] {
        let keys = Set(extra.map { $0.prefix { $0 != "=" } + "=" })
        var merged: [UnsafeMutablePointer<CChar>?] = extra.map { strdup($0) }
        var entry = bc_shim_environ()
        while let pointer = entry?.pointee {
            let text = String(cString: pointer)
            if !keys.contains(String(text.prefix { $0 != "=" }) + "=") { merged.append(strdup(pointer)) }
            entry = entry! + 1
        }
        return merged + [nil]
    }

    /// The errno of a spawn that failed.
    struct SpawnErrno: Error {
        let code: Int32
    }

    /// Running, exited (not reaped), or reaped by someone else. Never blocks.
    func state() -> State {
        var info = siginfo_t()
        while true {
            let rc = waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT)
            if rc == 0 { return bc_shim_siginfo_pid(&info) == pid ? .exited : .running }
            if errno != EINTR { return .reapedElsewhere }
        }
    }

    /// Waits until the child exits or `deadline` (monotonic nanoseconds)
    /// passes: on a pidfd, which becomes readable when the child exits, or
    /// on a kernel without pidfds, polling with a back-off from 0.2 to 20 ms.
    func waitForExit(until deadline: UInt64) -> State {
        let pidfd = bc_shim_pidfd_open(pid)
        defer { if pidfd >= 0 { close(pidfd) } }
        var pause: UInt64 = 200_000
        while true {
            let state = state()
            let now = monotonicNanos()
            if state != .running || now >= deadline { return state }
            if pidfd >= 0 {
                var watched = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
                _ = poll(&watched, 1, Int32(min((deadline - now) / 1_000_000 + 1, 60_000)))
            } else {
                sleepSeconds(Double(pause) / 1e9)
                pause = min(pause * 2, 20_000_000)
            }
        }
    }

    /// Sends `signal` to every process of the child's group. Returns false
    /// when no such group exists. [thread-safe]
    @discardableResult
    func signalGroup(_ signal: Int32) -> Bool {
        guard pid > 1 else { return false }
        return Glibc.kill(-pid, signal) == 0
    }

    /// Kills whatever is left in the child's group, then waits for the child
    /// and decodes its status. Call it once the child has exited, or to end
    /// it: the leader is then a zombie or still running, so its group id
    /// cannot have been reused and SIGKILL reaches only what it started.
    func killGroupAndReap() -> ChildExit {
        signalGroup(SIGKILL)
        var status: Int32 = 0
        while true {
            let rc = waitpid(pid, &status, 0)
            if rc == pid { return ChildExit(waitStatus: status) }
            if rc < 0 && errno == EINTR { continue }
            return .unknown  // ECHILD: someone else reaped it
        }
    }
}

/// Calls `body` with posix_spawn attributes for a child batchcore starts:
/// a process group of its own, no blocked signals, and the usual signals
/// at their defaults.
private func withSpawnAttributes<T>(_ body: (inout posix_spawnattr_t) -> T) -> T {
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    posix_spawnattr_setpgroup(&attr, 0)
    var emptyMask = sigset_t()
    sigemptyset(&emptyMask)
    posix_spawnattr_setsigmask(&attr, &emptyMask)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for sig in [SIGPIPE, SIGXFSZ, SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGALRM, SIGCHLD] {
        sigaddset(&defaults, sig)
    }
    posix_spawnattr_setsigdefault(&attr, &defaults)
    posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    return body(&attr)
}
