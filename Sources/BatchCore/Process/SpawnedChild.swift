import Glibc

/// Calls `body` with posix_spawn attributes for a child batchcore starts:
/// a process group of its own (so stopping the group reaches the child's
/// children, and a terminal's Ctrl-C reaches only the host), no blocked
/// signals, and the usual signals at their defaults — hosts such as Python
/// ignore SIGPIPE, and ignored signals survive exec.
func withChildSpawnAttributes<T>(_ body: (inout posix_spawnattr_t) -> T) -> T {
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
