import CHiredis
import Glibc

/// Opens a hiredis context for a URL: connect with a timeout, AUTH, SELECT, and
/// a PING that surfaces a missing password at once rather than on first use, and a
/// server still loading its data as one that cannot be used yet.
struct RedisHandshake {
    let url: RedisURL
    let options: RedisConnection.Options
    let hiredis: Hiredis

    func open() throws -> UnsafeMutablePointer<redisContext> {
        let context = try connect()
        do {
            try authenticate(context)
            if url.database != 0 { try expectOK(context, ["SELECT", url.database], "SELECT \(url.database)") }
            try expectOK(context, ["PING"], "PING")
            return context
        } catch {
            hiredis.free(context)
            throw error
        }
    }

    private func connect() throws -> UnsafeMutablePointer<redisContext> {
        let timeout = Self.timeval(options.connectTimeout)
        let context: UnsafeMutablePointer<redisContext>? = switch url.endpoint {
        case .tcp(let host, let port): hiredis.connectWithTimeout(host, Int32(port), timeout)
        case .unix(let path): hiredis.connectUnixWithTimeout(path, timeout)
        }
        guard let context else { throw RedisError(.connect, "cannot connect to \(url): out of memory") }
        guard context.pointee.err == 0 else {
            let detail = Self.errorText(context)
            hiredis.free(context)
            throw RedisError(.connect, "cannot connect to \(url): \(detail); is redis-server running there?")
        }
        _ = hiredis.setTimeout(context, Self.timeval(options.commandTimeout))
        if case .tcp = url.endpoint { _ = hiredis.enableKeepAlive(context) }
        return context
    }

    private func authenticate(_ context: UnsafeMutablePointer<redisContext>) throws {
        guard let password = url.password else { return }
        let command: [any RedisArgument] = url.username.map { ["AUTH", $0, password] } ?? ["AUTH", password]
        try expectOK(context, command, "AUTH")
    }

    /// Runs a handshake command; an error reply about credentials is an authentication error.
    private func expectOK(_ context: UnsafeMutablePointer<redisContext>, _ command: [any RedisArgument], _ what: String) throws {
        let raw = EncodedCommand(command).withArgv { argc, argv, argvlen in hiredis.commandArgv(context, argc, argv, argvlen) }
        guard let raw else {
            throw RedisError(.connect, "cannot connect to \(url): \(Self.errorText(context)) during \(what)")
        }
        defer { hiredis.freeReplyObject(raw) }
        guard case .error(let message) = RedisReply(raw.assumingMemoryBound(to: redisReply.self)) else { return }
        if message.hasPrefix("LOADING") {  // restarted, reading its data: like a server not up yet
            throw RedisError(.connect, "cannot use \(url) yet: it is loading its data (\(message))")
        }
        let credentials = ["WRONGPASS", "NOAUTH", "NOPERM"].contains { message.hasPrefix($0) } || what == "AUTH"
        if credentials {
            throw RedisError(.authentication, "Redis at \(url) refused the login: \(message); check the user name and password in the URL")
        }
        throw RedisError(.server, "Redis at \(url) refused \(what): \(message)")
    }

    static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        let text = withUnsafeBytes(of: context.pointee.errstr) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return text.isEmpty ? "I/O error" : text
    }

    static func timeval(_ duration: Duration) -> Glibc.timeval {
        let (seconds, attoseconds) = duration.components
        return Glibc.timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}
