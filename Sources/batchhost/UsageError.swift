import ArgumentParser

/// Every usage error reads the same: `batchhost: error: MESSAGE`, then the
/// usage of the command that was given and where to read more.
enum UsageError {
    /// The text for `error`; `command` is the subcommand that was parsed, when
    /// the error came from running it (ArgumentParser then knows no command).
    static func text(for error: Error, command: ParsableCommand.Type?) -> String {
        guard let command, command != BatchHost.self else {
            // A parse error: ArgumentParser's text names the right usage.
            var text = BatchHost.fullMessage(for: error)
            if text.hasPrefix("Error: ") { text.removeFirst("Error: ".count) }
            return "batchhost: error: " + text + "\n"
        }
        let name = command.configuration.commandName ?? ""
        return "batchhost: error: \(BatchHost.message(for: error))\n"
            + "Usage: \(BatchHost.usageString(for: command))\n"
            + "  See 'batchhost \(name) --help' for more information.\n"
    }
}
