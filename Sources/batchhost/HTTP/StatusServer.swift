import BatchCore

/// `--http`: serves a status source's page, metrics and API.
final class StatusServer: Sendable {
    private let server: HTTPServer

    /// Listens at `address` ([HOST:]PORT) and says where on standard error.
    /// Secrets of the command line (`scrubber`) are masked in every answer.
    init(address text: String, token: String?, source: StatusSource, scrubber: SecretScrubber) throws {
        let address = try HTTPAddress(parsing: text)
        let routes = StatusRoutes(source: source, access: AccessPolicy(token: token, loopback: address.isLoopback))
        server = HTTPServer { request in
            var response = routes.handle(request)
            if !scrubber.secrets.isEmpty {
                response.body = Array(scrubber.scrub(String(decoding: response.body, as: UTF8.self)).utf8)
            }
            return response
        }
        try server.start(at: address)
        if !address.isLoopback && token == nil {
            writeStandardError("batchhost: warning: serving http on \(address.host) without --http-token: anyone who can reach this port reads the status; add --http-token TOKEN to require it\n")
        }
        writeStandardError("batchhost: serving http://\(address.host):\(server.port)/\n")
    }

    func stop() { server.stop() }
}
