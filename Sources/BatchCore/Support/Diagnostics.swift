import Synchronization

/// Messages the engine writes to standard error itself, having no event
/// handler to give them to, start with the program's name: "batchcore"
/// unless the host program gives its own.
public enum Diagnostics {
    private static let program = Mutex("batchcore")

    public static func setProgramName(_ name: String) {
        program.withLock { $0 = name }
    }

    /// Writes `PROGRAM: message` and a newline.
    public static func write(_ message: String) {
        writeStandardError(program.withLock { $0 } + ": " + message + "\n")
    }
}
