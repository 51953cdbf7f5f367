import BatchCore

/// Connections to one server for the threads of a process: a thread borrows
/// one for an operation (hiredis contexts are not thread-safe) and returns
/// it. An outage is reported once for the pool, not per connection.
public final class RedisConnectionPool: Sendable {
    public let url: RedisURL
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
        let connection = try RedisConnection(url)
        let outage = outage
        connection.onConnectionLost = { outage.lost($0) }
        connection.onReconnected = { outage.back(after: $0) }
        return connection
    }
}

/// Says once that the server is unreachable, and once that it is back.
final class RedisOutage: Sendable {
    private let down = Locked(false)
    private let report: @Sendable (String) -> Void

    init(report: @escaping @Sendable (String) -> Void) { self.report = report }

    func lost(_ error: RedisError) {
        if down.withLock({ d in defer { d = true }; return !d }) { report("\(error.message); reconnecting") }
    }

    func back(after duration: Duration) {
        if down.withLock({ d in defer { d = false }; return d }) { report("reconnected to Redis after \(duration)") }
    }
}
