import ArgumentParser
import BatchCore
import Glibc

// Parse by hand so that every usage error exits 2, as --help documents.
do {
    var command = try BatchHost.parseAsRoot()
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
    writeStandardError(message.hasPrefix("Error:") || message.hasPrefix("Usage:") ? message + "\n" : "batchhost: error: \(message)\n")
    leave(Exit.usage.rawValue)
}
