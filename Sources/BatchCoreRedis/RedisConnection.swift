import CHiredis
import Glibc

/// One connection to a Redis server: a blocking hiredis context.
///
/// Not thread-safe: use one connection per thread. Connecting authenticates and
/// selects the URL's database; a refused connection or wrong credentials throw at
/// once. When an established connection breaks, the next call reconnects with
/// backoff for up to `Options.reconnectTimeout`; `onConnectionLost` is called once
/// when an outage begins and `onReconnected` once when it ends, however many calls
/// fail in between.
public final class RedisConnection {
    public struct Options: Sendable {
        public var connectTimeout: Duration = .seconds(5)
        /// How long one reply may take before the connection counts as lost.
        public var commandTimeout: Duration = .seconds(30)
        /// How long a call keeps trying to reconnect before it throws `.connectionLost`.
        public var reconnectTimeout: Duration = .seconds(30)
        /// Reconnection attempts wait from `firstBackoff`, doubling up to `maxBackoff`, with jitter.
        public var firstBackoff: Duration = .milliseconds(50)
        public var maxBackoff: Duration = .seconds(2)
        /// Once requested, a lost connection is tried once more, not waited for.
        public var stop = RedisStop()

        public init() {}
    }

    public let url: RedisURL
    public let options: Options
    /// Called once when an outage begins, with the error that revealed it.
    public var onConnectionLost: ((RedisError) -> Void)?
    /// Called once when the connection is back, with how long it was down.
    public var onReconnected: ((Duration) -> Void)?

    private let hiredis: Hiredis
    private var context: UnsafeMutablePointer<redisContext>?
    private var outageStart: ContinuousClock.Instant?

    /// Connects now; throws `.connect` or `.authentication` with a message naming the server.
    public init(_ url: RedisURL, options: Options = Options()) throws {
        self.url = url
        self.options = options
        hiredis = try Hiredis.load()
        context = try RedisHandshake(url: url, options: options, hiredis: hiredis).open()
    }

    deinit {
        if let context { hiredis.free(context) }
    }

    /// Sends one command and waits for its reply. An error reply throws `.server`.
    /// A connection broken during the call throws `.connectionLost`: the command
    /// may or may not have run.
    @discardableResult
    public func command(_ arguments: any RedisArgument...) throws -> RedisReply {
        try command(arguments)
    }

    @discardableResult
    public func command(_ arguments: [any RedisArgument]) throws -> RedisReply {
        let encoded = EncodedCommand(arguments)
        let reply = try send(encoded)
        if case .error(let message) = reply {
            throw RedisError(.server, "redis: \(encoded.name) failed: \(message)")
        }
        return reply
    }

    /// Sends one command and returns its reply, an error reply included.
    func reply(_ arguments: [any RedisArgument]) throws -> RedisReply {
        try send(EncodedCommand(arguments))
    }

    private func send(_ encoded: EncodedCommand) throws -> RedisReply {
        let context = try connected()
        let raw = encoded.withArgv { argc, argv, argvlen in hiredis.commandArgv(context, argc, argv, argvlen) }
        guard let raw else { throw lost(context) }
        defer { hiredis.freeReplyObject(raw) }
        return RedisReply(raw.assumingMemoryBound(to: redisReply.self))
    }

    /// Sends all commands, then reads all replies: one round trip for the lot.
    /// Error replies are returned in place, not thrown. A broken connection throws
    /// `.connectionLost`: any of the commands may or may not have run.
    public func pipeline(_ commands: [[any RedisArgument]]) throws -> [RedisReply] {
        let context = try connected()
        for command in commands {
            let status = EncodedCommand(command).withArgv { argc, argv, argvlen in
                hiredis.appendCommandArgv(context, argc, argv, argvlen)
            }
            guard status == REDIS_OK else { throw lost(context) }
        }
        return try commands.indices.map { _ in
            var raw: UnsafeMutableRawPointer?
            guard hiredis.getReply(context, &raw) == REDIS_OK, let raw else { throw lost(context) }
            defer { hiredis.freeReplyObject(raw) }
            return RedisReply(raw.assumingMemoryBound(to: redisReply.self))
        }
    }

    /// Runs `body`, and runs it again after reconnecting when the connection was
    /// lost during it, until `reconnectTimeout` has passed since the first loss.
    /// Use only for operations that are safe to run twice.
    public func resending<T>(_ body: (RedisConnection) throws -> T) throws -> T {
        var deadline: ContinuousClock.Instant?
        while true {
            do {
                return try body(self)
            } catch let error as RedisError where error.kind == .connectionLost {
                let giveUp = deadline ?? .now + options.reconnectTimeout
                if ContinuousClock.now >= giveUp || options.stop.isRequested { throw error }
                deadline = giveUp
            }
        }
    }

    /// The live context, reconnecting with backoff first when it was lost.
    private func connected() throws -> UnsafeMutablePointer<redisContext> {
        if let context { return context }
        let handshake = RedisHandshake(url: url, options: options, hiredis: hiredis)
        let deadline = ContinuousClock.now + options.reconnectTimeout
        var backoff = options.firstBackoff
        while true {
            do {
                let context = try handshake.open()
                self.context = context
                reportReconnected()
                return context
            } catch let error as RedisError where error.kind == .connect {
                let wait = backoff * Double.random(in: 0.5...1)
                guard !options.stop.isRequested else {
                    throw RedisError(.connectionLost, "lost the connection to \(url), and stopping: \(error.message)")
                }
                guard ContinuousClock.now + wait < deadline else {
                    throw RedisError(.connectionLost, "lost the connection to \(url) and could not reconnect within \(options.reconnectTimeout): \(error.message)")
                }
                options.stop.sleep(for: wait)
                backoff = min(backoff * 2, options.maxBackoff)
            }
        }
    }

    /// Drops the broken context and reports the outage. Only a live context breaks,
    /// and calls during the outage fail in `connected()`, so this runs once per outage.
    private func lost(_ broken: UnsafeMutablePointer<redisContext>) -> RedisError {
        let detail = RedisHandshake.errorText(broken)
        hiredis.free(broken)
        context = nil
        let error = RedisError(.connectionLost, "lost the connection to \(url): \(detail)")
        outageStart = .now
        onConnectionLost?(error)
        return error
    }

    private func reportReconnected() {
        guard let start = outageStart else { return }
        outageStart = nil
        onReconnected?(.now - start)
    }
}
