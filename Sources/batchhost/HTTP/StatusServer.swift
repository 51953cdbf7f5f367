import BatchCore

/// `--http`: serves a run's status page, metrics and API while it runs.
final class StatusServer: Sendable {
    private let status: LocalRunStatus
    private let server: HTTPServer

    /// Listens at `address` ([HOST:]PORT) and says where on standard error.
    /// Secrets of the command line (`scrubber`) are masked in every answer.
    init(address text: String, token: String?, batch: Batch, name: String, journal: String?, scrubber: SecretScrubber) throws {
        let address = try HTTPAddress(parsing: text)
        let status = LocalRunStatus(batch: batch, name: name, journalPath: journal)
        let routes = StatusRoutes(source: status, access: AccessPolicy(token: token, loopback: address.isLoopback))
        self.status = status
        server = HTTPServer { request in
            var response = routes.handle(request)
            if !scrubber.secrets.isEmpty {
                response.body = Array(scrubber.scrub(String(decoding: response.body, as: UTF8.self)).utf8)
            }
            return response
        }
        try server.start(at: address)
        if !address.isLoopback && token == nil {
            writeStandardError("batchhost: warning: serving http on \(address.host) without --http-token: anyone who can reach this port reads the run's status; add --http-token TOKEN to require it\n")
        }
        writeStandardError("batchhost: serving http://\(address.host):\(server.port)/\n")
    }

    /// Called with each of the batch's events.
    func observe(_ event: BatchEvent) { status.observe(event) }

    func stop() { server.stop() }
}
