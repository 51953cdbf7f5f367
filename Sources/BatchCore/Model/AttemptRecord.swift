import CBatchCore
import FoundationEssentials
import Glibc

/// One call of a stage for a document: when and where it ran, how long it
/// took and how it ended. A document's records are its attempt history.
public struct AttemptRecord: Sendable, Equatable {
    /// The document's attempt (1 for its first call; the first call of a
    /// later stage is the same attempt going on).
    public var attempt: Int
    public var stage: String
    /// When the call began, Unix seconds.
    public var startedAt: Double
    /// Where it ran: `HOST:PID/THREAD` (a Redis worker is `HOST:PID`).
    public var worker: String
    public var durationMs: Double
    /// ok, partial, retry, timeout or failed.
    public var outcome: String
    public var error: String?
    /// The end of what the call wrote to stderr (exec), at most `ExecInstance.errorTail` bytes.
    public var stderr: String?

    public init(attempt: Int, stage: String, startedAt: Double, worker: String, durationMs: Double,
                outcome: String, error: String?, stderr: String?) {
        self.attempt = attempt
        self.stage = stage
        self.startedAt = startedAt
        self.worker = worker
        self.durationMs = durationMs
        self.outcome = outcome
        self.error = error
        self.stderr = stderr
    }

    /// The calling thread, as `worker` names it.
    static var currentWorker: String { "\(processName)/\(bc_shim_thread_id())" }

    private static let processName: String = {
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count - 1)
        return "\(String(cString: host)):\(getpid())"
    }()

    /// Now, Unix seconds.
    static var now: Double { Date().timeIntervalSince1970 }
}
