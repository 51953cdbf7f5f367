import BatchCore

/// Connections to one server for the threads of a process: a thread borrows
/// one for an operation (hiredis contexts are not thread-safe) and returns
/// it. An outage is reported once for the pool, not per connection.
public final class RedisConnectionPool: Sendable {
    public let url: RedisURL
    /// Requested when the process stops: connections that are down stop waiting to reconnect.
    public let stop = RedisStop()
    private let idle = Locked([RedisConnection]())
    private let outage: RedisOutage

    /// Connects once now, so a bad address or password is reported at once.
    public init(_ url: RedisURL, report: @escaping @Sendable (String) -> Void) throws {
        self.url = url
        outage = RedisOutage(report: report)
        let first = try open()
        idle.withLock { $0.append(first) }
    }

    /// Runs `body` with a connection of its own.
    public func with<T>(_ body: (RedisConnection) throws -> T) throws -> T {
        let connection = try idle.withLock { $0.popLast() } ?? open()
        defer { idle.withLock { $0.append(connection) } }
        return try body(connection)
    }

    private func open() throws -> RedisConnection {
        var options = RedisConnection.Options()
        options.stop = stop
        let connection = try RedisConnection(url, options: options)
        let outage = outage
        connection.onConnectionLost = { outage.lost($0) }
        connection.onReconnected = { outage.back(after: $0) }
        return connection
    }
}

/// Says once that the server is unreachable, and once that it is back. The
/// pool's other connections find their sockets broken by the same outage only
/// when next used: a loss soon after coming back is that outage, not a new one.
final class RedisOutage: Sendable {
    private struct State {
        var down = false
        var backAt: ContinuousClock.Instant? = nil
    }

    private let state = Locked(State())
    private let report: @Sendable (String) -> Void
    private static let sameOutage = Duration.seconds(30)

    init(report: @escaping @Sendable (String) -> Void) { self.report = report }

    func lost(_ error: RedisError) {
        let isNew = state.withLock { s -> Bool in
            let recent = s.backAt.map { ContinuousClock.now - $0 < Self.sameOutage } ?? false
            guard !s.down && !recent else { return false }
            s.down = true
            return true
        }
        if isNew { report("\(error.message); reconnecting") }
    }

    func back(after duration: Duration) {
        let wasDown = state.withLock { s -> Bool in
            defer { s.down = false; s.backAt = .now }
            return s.down
        }
        if wasDown { report("reconnected to Redis after \(duration)") }
    }
}
