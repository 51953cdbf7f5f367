import CBatchCore
import Glibc

/// How a child process ended, decoded from its wait status.
public enum ChildExit: Sendable, Equatable {
    case exited(Int32)
    case signaled(Int32, coreDumped: Bool)
    /// The status was lost: something else reaped the child (a host
    /// that sets SIGCHLD to SIG_IGN does).
    case unknown

    /// The exit a `waitpid` status describes.
    init(waitStatus status: Int32) {
        if bc_shim_wifexited(status) != 0 {
            self = .exited(bc_shim_wexitstatus(status))
        } else if bc_shim_wifsignaled(status) != 0 {
            self = .signaled(bc_shim_wtermsig(status), coreDumped: bc_shim_wcoredump(status) != 0)
        } else {
            self = .unknown
        }
    }

    /// A short name for a signal: "SIGSEGV", or "signal 42".
    public static func signalName(_ signal: Int32) -> String {
        signalNames[signal] ?? "signal \(signal)"
    }

    private static let signalNames: [Int32: String] = [
        SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL",
        SIGTRAP: "SIGTRAP", SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE",
        SIGKILL: "SIGKILL", SIGUSR1: "SIGUSR1", SIGSEGV: "SIGSEGV", SIGUSR2: "SIGUSR2",
        SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM", SIGTERM: "SIGTERM", SIGCHLD: "SIGCHLD",
        SIGCONT: "SIGCONT", SIGSTOP: "SIGSTOP", SIGTSTP: "SIGTSTP", SIGTTIN: "SIGTTIN",
        SIGTTOU: "SIGTTOU", SIGURG: "SIGURG", SIGXCPU: "SIGXCPU", SIGXFSZ: "SIGXFSZ",
        SIGVTALRM: "SIGVTALRM", SIGPROF: "SIGPROF", SIGWINCH: "SIGWINCH", SIGIO: "SIGIO",
        SIGPWR: "SIGPWR", SIGSYS: "SIGSYS",
    ]
}
