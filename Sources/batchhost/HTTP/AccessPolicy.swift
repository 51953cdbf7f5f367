/// Who may do what: reading is open on loopback; actions need the token.
/// Off loopback with a token, every request needs it.
struct AccessPolicy: Sendable {
    let token: String?
    let loopback: Bool

    var readOnly: Bool { token == nil }

    func mayRead(_ request: HTTPRequest) -> Bool {
        loopback || token == nil || carriesToken(request)
    }

    func mayAct(_ request: HTTPRequest) -> Bool {
        token != nil && carriesToken(request)
    }

    /// `Authorization: Bearer TOKEN`, or `?token=TOKEN` (for links from the page).
    private func carriesToken(_ request: HTTPRequest) -> Bool {
        guard let token else { return false }
        let given = request.header("Authorization").map { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : $0 }
            ?? request.query("token")
        return given.map { constantTimeEqual($0, token) } ?? false
    }

    private func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
