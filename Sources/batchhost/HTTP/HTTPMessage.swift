import BatchCore

/// A request as the server's handler sees it; valid only during the call.
struct HTTPRequest {
    let method: String
    let path: String
    /// A query-string argument, decoded.
    let query: (String) -> String?
    /// A request header, by name (case-insensitive).
    let header: (String) -> String?
}

/// What the handler answers.
struct HTTPResponse {
    var status: Int32
    var contentType: String
    var body: [UInt8]

    init(status: Int32 = 200, contentType: String, body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }

    init(status: Int32 = 200, contentType: String = "text/plain; charset=utf-8", text: String) {
        self.init(status: status, contentType: contentType, body: Array(text.utf8))
    }

    static func json(_ body: [UInt8], status: Int32 = 200) -> HTTPResponse {
        HTTPResponse(status: status, contentType: "application/json", body: body)
    }

    /// An error as JSON: `{"error": message}`.
    static func error(_ status: Int32, _ message: String) -> HTTPResponse {
        .json(Array(JSONValue.object(["error": .string(message)]).text.utf8), status: status)
    }
}
