import ArgumentParser
import BatchCore
import Glibc

// Parse by hand so that every usage error exits 2, as --help documents.
var parsed: ParsableCommand.Type? = nil
do {
    // Arguments keep their bytes: a file name that is not UTF-8 stays itself.
    let arguments = (1..<Int(CommandLine.argc)).map { FileNameBytes.string(cString: CommandLine.unsafeArgv[$0]!) }
    var command = try BatchHost.parseAsRoot(arguments)
    parsed = type(of: command)
    try command.run()
} catch let error as BatchCoreError {
    writeStandardError("batchhost: error: \(error.message)\n")
    leave(Exit.usage.rawValue)
} catch let code as ExitCode {
    leave(code.rawValue)
} catch {
    let code = BatchHost.exitCode(for: error)
    let message = BatchHost.fullMessage(for: error)
    if code == .success {
        print(message)
        leave(0)
    }
    writeStandardError(UsageError.text(for: error, command: parsed))
    leave(Exit.usage.rawValue)
}
