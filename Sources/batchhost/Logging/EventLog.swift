import BatchCore
import Glibc

/// `--log-file`: one timestamped line per event of the run (start and end,
/// failures, retries, rate-limit pauses, warnings, stage stderr lines),
/// appended to a file, secrets scrubbed.
final class EventLog: @unchecked Sendable {  // unchecked: the FILE is only written under lock, and closed when no one holds the log
    private let file: UnsafeMutablePointer<FILE>
    private let lineFormat: LogFormat
    private let batch: String
    private let scrubber: SecretScrubber
    private let lock = Locked(())

    init(path: String, format: LogFormat, batch: String, scrubber: SecretScrubber) throws {
        guard let file = fopen(path, "a") else {
            throw BatchCoreError(.io, "--log-file '\(path)': cannot open it for writing: \(String(cString: strerror(errno)))")
        }
        self.file = file
        lineFormat = format
        self.batch = batch
        self.scrubber = scrubber
    }

    deinit { fclose(file) }

    /// The run begins: its command line, secrets masked.
    func runStarted(arguments: [String]) {
        write("info", message: "run started", fields: [("command", arguments.map(shellQuoted).joined(separator: " "))])
    }

    /// Called with each of the batch's events.
    func handle(_ event: BatchEvent, stages: [String]) {
        switch event {
        case .documentFinished(let result, _) where result.status == .failed:
            write("error", document: result.document.id, stage: result.failedStageLabel,
                  message: "failed: \(result.error ?? "no message")", fields: [("attempts", String(result.attempts))])
        case .log(let level, let message, let document, _):
            let (stage, text) = Self.splitStage(message, stages: stages)
            write(level.name, document: document?.id, stage: stage, message: text)
        case .notice(.retry(let document, let stage, let attempt, let delay, let reason), _):
            write("warning", document: document.id, stage: stage, message: "retry: \(reason)",
                  fields: [("attempt", String(attempt)), ("delay_seconds", format(delay, digits: 3))])
        case .notice(.rateLimitPause(let document, let stage, let seconds), _):
            write("warning", document: document.id, stage: stage, message: "rate limit paused by a Retry-After",
                  fields: [("pause_seconds", format(seconds, digits: 3))])
        case .finished(let s):
            write("info", message: s.state == .cancelled ? "run stopped early" : "run ended", fields: [
                ("ok", String(s.ok)), ("partial", String(s.partial)), ("failed", String(s.failed)),
                ("skipped", String(s.skipped)), ("retries", String(s.retries)), ("timeouts", String(s.timeouts)),
                ("elapsed_seconds", format(s.elapsedSeconds, digits: 3)), ("cost_usd", String(s.costUSD)),
                ("budget_reached", String(s.budgetReached))])
        default:
            break
        }
    }

    private func write(_ level: String, document: String? = nil, stage: String? = nil, message: String,
                       fields: [(String, String)] = []) {
        let line = lineFormat.line(level: level, batch: batch, document: document.map(scrubber.scrub), stage: stage,
                               message: scrubber.scrub(message), fields: fields.map { ($0.0, scrubber.scrub($0.1)) })
        lock.withLock { _ in
            fputs(line.replacingNewlines + "\n", file)
            fflush(file)
        }
    }

    /// Engine messages about a stage start with its label and a colon.
    private static func splitStage(_ message: String, stages: [String]) -> (String?, String) {
        guard let colon = message.firstIndex(of: ":"), stages.contains(String(message[..<colon])) else { return (nil, message) }
        return (String(message[..<colon]), String(message[message.index(after: colon)...].drop { $0 == " " }))
    }

}

private extension String {
    /// One event, one line: a message's own line breaks are escaped.
    var replacingNewlines: String {
        split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\\n")
    }
}
