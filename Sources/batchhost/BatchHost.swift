import ArgumentParser

/// The shell host of batchcore. Thin: it turns flags into engine calls.
struct BatchHost: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batchhost",
        abstract: "Run batches of documents through processors, in parallel.",
        discussion: """
        Exit codes: 0 every document ok (or partial), 1 some documents failed, \
        2 usage or configuration error, 3 stopped early (interrupted).
        """,
        version: "batchhost 0.1.0",
        subcommands: [RunCommand.self, StatusCommand.self, FailedCommand.self, ExportCommand.self, RecoverCommand.self, PluginsCommand.self, OptionsCommand.self],
        defaultSubcommand: nil)
}

/// Exit codes, as documented in --help.
enum Exit: Int32 {
    case ok = 0
    case documentsFailed = 1
    case usage = 2
    case stopped = 3
}
