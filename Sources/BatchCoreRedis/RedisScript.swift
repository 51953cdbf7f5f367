import Synchronization

/// A Lua script run atomically on the server with EVALSHA, falling back to EVAL
/// (which also caches it there) when the server does not know it: after a
/// restart or SCRIPT FLUSH. Its SHA1 is learnt once per process with SCRIPT LOAD.
public final class RedisScript: Sendable {
    public let name: String
    public let source: String
    private let sha = Mutex<String?>(nil)

    public init(name: String, source: String) {
        self.name = name
        self.source = source
    }

    /// Runs the script with `keys` and `arguments`. An error the script raises
    /// throws `.server` naming the script.
    public func run(on connection: RedisConnection, keys: [String], arguments: [any RedisArgument]) throws -> RedisReply {
        let tail: [any RedisArgument] = [keys.count] + keys.map { $0 as any RedisArgument } + arguments
        var reply = try connection.reply(["EVALSHA", try loadedSHA(on: connection)] + tail)
        if case .error(let message) = reply, message.hasPrefix("NOSCRIPT") {
            reply = try connection.reply(["EVAL", source] + tail)
        }
        if case .error(let message) = reply {
            throw RedisError(.server, "redis: script '\(name)' failed: \(message)")
        }
        return reply
    }

    private func loadedSHA(on connection: RedisConnection) throws -> String {
        if let known = sha.withLock({ $0 }) { return known }
        let loaded = try connection.command("SCRIPT", "LOAD", source)
        let text = try loaded.expect(loaded.string, "the SHA1 of script '\(name)'")
        sha.withLock { $0 = text }
        return text
    }
}
