import ArgumentParser
import BatchCore
import Glibc

// Parse by hand so that every usage error exits 2, as --help documents.
var parsed: ParsableCommand.Type? = nil
do {
    var command = try BatchHost.parseAsRoot()
    parsed = type(of: command)
    try command.run()
} catch let error as BatchCoreError {
    writeStandardError("batchhost: error: \(error.message)\n")
    exit(Exit.usage.rawValue)
} catch let code as ExitCode {
    exit(code.rawValue)
} catch {
    let code = BatchHost.exitCode(for: error)
    let message = BatchHost.fullMessage(for: error)
    if code == .success {
        print(message)
        exit(0)
    }
    writeStandardError(UsageError.text(for: error, command: parsed))
    exit(Exit.usage.rawValue)
}
