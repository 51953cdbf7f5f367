/// Where a Redis server is and how to log in:
/// `redis://[user[:password]@]host[:port][/db]` or `unix:///path/to/socket[?db=N]`.
/// User and password may be percent-encoded. `description` masks the password.
public struct RedisURL: Sendable, Equatable, CustomStringConvertible {
    public enum Endpoint: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unix(path: String)
    }

    public static let defaultPort = 6379

    public let endpoint: Endpoint
    public let username: String?
    public let password: String?
    public let database: Int

    public init(endpoint: Endpoint, username: String? = nil, password: String? = nil, database: Int = 0) {
        self.endpoint = endpoint
        self.username = username
        self.password = password
        self.database = database
    }

    /// Parses `text`; a bad URL throws `.badURL` naming the URL with its password masked.
    public init(_ text: String) throws {
        self = try RedisURLParser(text: text).parse()
    }

    /// The URL with the password replaced by `***`.
    public var description: String {
        switch endpoint {
        case .tcp(let host, let port):
            let shownHost = host.contains(":") ? "[\(host)]" : host
            let database = database == 0 ? "" : "/\(database)"
            return "redis://\(credentialsForDisplay)\(shownHost):\(port)\(database)"
        case .unix(let path):
            return "unix://\(credentialsForDisplay)\(path)\(database == 0 ? "" : "?db=\(database)")"
        }
    }

    private var credentialsForDisplay: String {
        switch (username, password) {
        case (nil, nil): ""
        case (let user?, nil): "\(user)@"
        case (let user, _?): "\(user ?? ""):***@"
        }
    }
}

/// The parsing steps of `RedisURL`, each naming what it found wrong.
struct RedisURLParser {
    let text: String
    private var masked: String { RedisURLParser.maskPassword(in: text) }

    init(text: String) { self.text = text }

    func parse() throws -> RedisURL {
        if let rest = text.dropPrefix("redis://") { return try parseTCP(rest) }
        if let rest = text.dropPrefix("unix://") { return try parseUnix(rest) }
        throw bad("it must start with redis:// or unix://")
    }

    private func parseTCP(_ rest: Substring) throws -> RedisURL {
        let (credentials, afterCredentials) = splitCredentials(rest)
        let (user, password) = try decodeCredentials(credentials)
        let hostPort = afterCredentials.prefix { $0 != "/" }
        let databasePart = afterCredentials.dropFirst(hostPort.count)
        let (host, port) = try parseHostPort(hostPort)
        let database = try databasePart.isEmpty || databasePart == "/"
            ? 0 : parseDatabase(databasePart.dropFirst())
        return RedisURL(endpoint: .tcp(host: host, port: port), username: user, password: password, database: database)
    }

    private func parseUnix(_ rest: Substring) throws -> RedisURL {
        let (credentials, afterCredentials) = splitCredentials(rest)
        let (user, password) = try decodeCredentials(credentials)
        let path = afterCredentials.prefix { $0 != "?" }
        guard path.hasPrefix("/") else { throw bad("a unix socket needs an absolute path, as in unix:///run/redis.sock") }
        let query = afterCredentials.dropFirst(path.count)
        var database = 0
        if !query.isEmpty {
            guard let value = query.dropPrefix("?db=") else { throw bad("the only query it takes is ?db=N") }
            database = try parseDatabase(value)
        }
        return RedisURL(endpoint: .unix(path: String(path)), username: user, password: password, database: database)
    }

    /// Splits at the last `@`, so an unencoded `@` in a password still parses.
    /// A unix socket path (starting with `/`) has no credentials before it.
    private func splitCredentials(_ rest: Substring) -> (Substring?, Substring) {
        guard !rest.hasPrefix("/"), let at = rest.lastIndex(of: "@") else { return (nil, rest) }
        return (rest[..<at], rest[rest.index(after: at)...])
    }

    private func decodeCredentials(_ credentials: Substring?) throws -> (String?, String?) {
        guard let credentials else { return (nil, nil) }
        let parts = credentials.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        let user = try percentDecode(parts[0], what: "user name")
        let password = parts.count > 1 ? try percentDecode(parts[1], what: "password") : nil
        return (user.isEmpty ? nil : user, password)
    }

    private func parseHostPort(_ hostPort: Substring) throws -> (String, Int) {
        var host = hostPort
        var portText: Substring?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { throw bad("an IPv6 host lacks its closing ']'") }
            host = hostPort[hostPort.index(after: hostPort.startIndex)..<close]
            let after = hostPort[hostPort.index(after: close)...]
            if !after.isEmpty {
                guard let port = after.dropPrefix(":") else { throw bad("expected ':port' after the IPv6 host") }
                portText = port
            }
        } else if let colon = hostPort.lastIndex(of: ":") {
            host = hostPort[..<colon]
            portText = hostPort[hostPort.index(after: colon)...]
        }
        guard !host.isEmpty else { throw bad("it has no host, as in redis://localhost:6379") }
        guard let portText else { return (String(host), RedisURL.defaultPort) }
        guard let port = Int(portText), (1...65535).contains(port) else {
            throw bad("the port '\(portText)' is not a number from 1 to 65535")
        }
        return (String(host), port)
    }

    private func parseDatabase(_ text: Substring) throws -> Int {
        guard let database = Int(text), database >= 0 else {
            throw bad("the database '\(text)' is not a number from 0 up")
        }
        return database
    }

    private func percentDecode(_ text: Substring, what: String) throws -> String {
        var bytes: [UInt8] = []
        var utf8 = text.utf8[...]
        while let byte = utf8.popFirst() {
            guard byte == UInt8(ascii: "%") else { bytes.append(byte); continue }
            guard utf8.count >= 2, let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16) else {
                throw bad("the \(what) has a '%' not followed by two hex digits")
            }
            bytes.append(value)
            utf8 = utf8.dropFirst(2)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private func bad(_ why: String) -> RedisError {
        RedisError(.badURL, "bad Redis URL '\(masked)': \(why)")
    }

    /// `text` with whatever sits between the user's ':' and the last '@' replaced by `***`.
    static func maskPassword(in text: String) -> String {
        guard let schemeEnd = text.firstRange(of: "://")?.upperBound,
              let at = text[schemeEnd...].lastIndex(of: "@"),
              let colon = text[schemeEnd..<at].firstIndex(of: ":")
        else { return text }
        return String(text[...colon]) + "***" + String(text[at...])
    }
}

extension StringProtocol {
    func dropPrefix(_ prefix: String) -> SubSequence? {
        hasPrefix(prefix) ? dropFirst(prefix.count) : nil
    }
}
