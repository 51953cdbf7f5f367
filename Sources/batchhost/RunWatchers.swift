import BatchCore

/// What watches a run besides the terminal: the status server (--http)
/// and the log file (--log-file), both masking the command line's secrets.
final class RunWatchers: Sendable {
    private let status: LocalRunStatus
    private let statusServer: StatusServer?
    private let eventLog: EventLog?
    private let stages: [String]

    init(http: String?, token: String?, logFile: String?, logFormat: LogFormat, batch: Batch, name: String, journal: String?) throws {
        let scrubber = SecretScrubber(arguments: CommandLine.arguments)
        let status = LocalRunStatus(batch: batch, name: name, journalPath: journal)
        self.status = status
        statusServer = try http.map { try StatusServer(address: $0, token: token, source: status, scrubber: scrubber) }
        eventLog = try logFile.map { try EventLog(path: $0, format: logFormat, batch: name, scrubber: scrubber) }
        stages = batch.stageLabels
        eventLog?.runStarted(arguments: CommandLine.arguments.map(SinkPasswords.hidden))
    }

    /// Called with each of the batch's events.
    func handle(_ event: BatchEvent) {
        if statusServer != nil { status.observe(event) }
        eventLog?.handle(event, stages: stages)
    }

    func stop() { statusServer?.stop() }
}
