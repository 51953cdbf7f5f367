import CBatchCore
import Glibc

/// Descriptors for talking to a child.
enum Descriptors {
    /// Opens a close-on-exec pipe whose ends are not 0, 1 or 2 (so the
    /// child's dup2 actions cannot clobber one another).
    static func pipe() -> (read: Int32, write: Int32)? {
        var fds: [Int32] = [-1, -1]
        guard bc_shim_pipe_cloexec(&fds) == 0 else { return nil }
        return moveAbove(2, &fds) ? (fds[0], fds[1]) : nil
    }

    /// Opens a close-on-exec socketpair whose ends are above `lowest`.
    static func socketPair(above lowest: Int32) -> (Int32, Int32)? {
        var fds: [Int32] = [-1, -1]
        guard bc_shim_socketpair_cloexec(&fds) == 0 else { return nil }
        return moveAbove(lowest, &fds) ? (fds[0], fds[1]) : nil
    }

    /// Moves both descriptors above `lowest` (close-on-exec kept); on
    /// failure closes both and keeps errno.
    private static func moveAbove(_ lowest: Int32, _ fds: inout [Int32]) -> Bool {
        for k in 0..<2 where fds[k] <= lowest {
            let moved = fcntl(fds[k], F_DUPFD_CLOEXEC, lowest + 1)
            let saved = errno
            close(fds[k])
            guard moved >= 0 else {
                close(fds[1 - k])
                errno = saved
                return false
            }
            fds[k] = moved
        }
        return true
    }
}
