import Glibc
import Synchronization

/// Where output "-" goes: standard output, or the copy of it a host kept
/// with `reserveForResults` before pointing fd 1 at standard error.
public enum StandardOutput {
    private static let results = Atomic<Int32>(1)

    /// The descriptor results written to "-" go to.
    public static var descriptor: Int32 { results.load(ordering: .acquiring) }

    /// Keeps standard output for results alone: results written to "-" go to
    /// a copy of fd 1, and fd 1 itself now points at standard error, so what
    /// a processor in this process prints cannot mix with them. Once per
    /// process, before any batch starts.
    public static func reserveForResults() throws {
        let copy = fcntl(1, F_DUPFD_CLOEXEC, 3)
        guard copy >= 0, dup2(2, 1) == 1 else {
            throw BatchCoreError(.io, "cannot keep standard output for the results: \(errnoText())")
        }
        results.store(copy, ordering: .releasing)
    }
}
