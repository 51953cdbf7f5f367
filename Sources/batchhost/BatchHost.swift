import ArgumentParser
import Glibc
import BatchCore

/// The shell host of batchcore. Thin: it turns flags into engine calls.
struct BatchHost: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batchhost",
        abstract: "Run batches of documents through processors, in parallel.",
        discussion: """
        Exit codes: 0 every document ok (or partial), 1 some documents failed, \
        2 usage or configuration error, 3 stopped early (interrupted).
        """,
        version: "batchhost \(batchcoreVersion)",
        subcommands: [RunCommand.self, SubmitCommand.self, WorkerCommand.self, DashboardCommand.self, CollectCommand.self, CancelCommand.self, PauseCommand.self, ResumeCommand.self, RetryFailedCommand.self, StatusCommand.self, FailedCommand.self, ExportCommand.self, RecoverCommand.self, PluginsCommand.self, OptionsCommand.self],
        defaultSubcommand: nil)
}

/// Exit codes, as documented in --help.
enum Exit: Int32 {
    case ok = 0
    case documentsFailed = 1
    case usage = 2
    case stopped = 3
}

/// Ends the process once standard output is flushed. `_exit`, not `exit`:
/// a call abandoned at its timeout may still run on a thread nobody can
/// join, and `exit`'s clean-up handlers (OpenSSL's among them) must not
/// run under it. The engine's own threads are joined before this.
func leave(_ code: Int32) -> Never {
    fflush(nil)
    _exit(code)
}
