/// Who may do what: reading is open on loopback; actions need the token.
/// Off loopback with a token, every request needs it.
struct AccessPolicy: Sendable {
    let token: String?
    let loopback: Bool

    var readOnly: Bool { token == nil }

    func mayRead(_ request: HTTPRequest) -> Bool {
        loopback || token == nil || carriesToken(request)
    }

    /// Why an action is refused (status and message), or nil when it may go on.
    func refusal(of request: HTTPRequest) -> HTTPResponse? {
        guard token != nil else {
            return .error(403, "read-only: this server was started without --http-token, so it takes no actions")
        }
        guard given(request) != nil else {
            return .error(401, "actions need the token: send 'Authorization: Bearer TOKEN' or a form field token=TOKEN")
        }
        return carriesToken(request) ? nil : .error(403, "wrong token: send the one given to --http-token")
    }

    /// `Authorization: Bearer TOKEN`, a form field `token`, or `?token=TOKEN` (for links from the page).
    private func given(_ request: HTTPRequest) -> String? {
        request.header("Authorization").map { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : $0 }
            ?? request.parameter("token")
    }

    private func carriesToken(_ request: HTTPRequest) -> Bool {
        guard let token, let given = given(request) else { return false }
        return constantTimeEqual(given, token)
    }

    private func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
