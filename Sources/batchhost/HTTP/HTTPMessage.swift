import BatchCore

/// A request as the server's handler sees it; valid only during the call.
struct HTTPRequest {
    let method: String
    let path: String
    /// A query-string argument, decoded.
    let query: (String) -> String?
    /// A request header, by name (case-insensitive).
    let header: (String) -> String?
    /// The fields of a form-encoded body.
    var form: [String: String] = [:]

    /// A field of the form, else an argument of the query.
    func parameter(_ name: String) -> String? { form[name] ?? query(name) }
}

/// `application/x-www-form-urlencoded`: `a=1&b=two+words`, percent-decoded.
enum FormFields {
    static func parse(_ body: [UInt8]) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in body.split(separator: UInt8(ascii: "&")) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            fields[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return fields
    }

    private static func decode(_ text: ArraySlice<UInt8>) -> String {
        var bytes: [UInt8] = []
        var i = text.startIndex
        while i < text.endIndex {
            let byte = text[i]
            if byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%"), i + 2 < text.endIndex,
                      let value = UInt8(String(decoding: text[(i + 1)...(i + 2)], as: UTF8.self), radix: 16) {
                bytes.append(value)
                i += 2
            } else {
                bytes.append(byte)
            }
            i += 1
        }
        return String(decoding: bytes, as: UTF8.self)
    }
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
