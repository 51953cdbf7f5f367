import CBatchCore
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
    public var worker: String {
        get { place.name }
        set { place = .named(newValue) }
    }
    public var durationMs: Double
    /// ok, partial, retry, timeout or failed.
    public var outcome: String
    public var error: String?
    /// The end of what the call wrote to stderr (exec), at most `ExecInstance.errorTail` bytes.
    public var stderr: String?
    /// Where it ran, as the raw fact: a call of this process keeps its
    /// thread id, named only when the record is read (most never are).
    private var place: Place

    public init(attempt: Int, stage: String, startedAt: Double, worker: String, durationMs: Double,
                outcome: String, error: String?, stderr: String?) {
        self.init(attempt: attempt, stage: stage, startedAt: startedAt, place: .named(worker), durationMs: durationMs,
                  outcome: outcome, error: error, stderr: stderr)
    }

    init(attempt: Int, stage: String, startedAt: Double, place: Place, durationMs: Double,
         outcome: String, error: String?, stderr: String?) {
        self.attempt = attempt
        self.stage = stage
        self.startedAt = startedAt
        self.place = place
        self.durationMs = durationMs
        self.outcome = outcome
        self.error = error
        self.stderr = stderr
    }

    public static func == (a: AttemptRecord, b: AttemptRecord) -> Bool {
        (a.attempt, a.stage, a.startedAt, a.worker) == (b.attempt, b.stage, b.startedAt, b.worker)
            && (a.durationMs, a.outcome, a.error, a.stderr) == (b.durationMs, b.outcome, b.error, b.stderr)
    }

    /// Whether a document's calls are kept (in the journal, for its status):
    /// only when it failed or took more than one call. A document done in
    /// one call is told by its result alone.
    static func isKept(failed: Bool, attempts: Int, calls: Int) -> Bool {
        failed || attempts > 1 || calls > 1
    }

    enum Place: Sendable {
        /// A thread of this process, by its kernel id.
        case thread(Int)
        case named(String)

        /// The calling thread.
        static var current: Place { .thread(bc_shim_thread_id()) }

        var name: String {
            switch self {
            case .thread(let id): "\(Self.processName)/\(id)"
            case .named(let name): name
            }
        }

        private static let processName: String = {
            var host = [CChar](repeating: 0, count: 256)
            gethostname(&host, host.count - 1)
            return "\(String(cString: host)):\(getpid())"
        }()
    }
}
