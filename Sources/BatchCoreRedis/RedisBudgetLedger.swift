/// A batch's budget shared by every worker: money is reserved before a document
/// runs and committed (the actual amount) or released after, so that spent +
/// reserved never passes the limit. A reservation is held under a lease: one a dead
/// worker never commits is released when its lease expires. Amounts are integers
/// in a unit the caller chooses (micro-dollars, say). Each operation is one Lua
/// script, atomic on the server, on the server's clock, and safe to resend: they
/// are resent after a reconnect.
public struct RedisBudgetLedger: Sendable {
    public struct Reservation: Sendable, Hashable {
        public let id: String
        public let amount: Int64
    }

    public struct State: Sendable, Equatable {
        public let spent: Int64
        public let reserved: Int64
    }

    public let keys: RedisKeys
    public let limit: Int64
    public let lease: Duration

    public init(batch: String, limit: Int64, lease: Duration) {
        keys = RedisKeys(batch: batch)
        self.limit = limit
        self.lease = lease
    }

    /// Reserves `amount`, or returns nil when spent + reserved + amount would pass the limit.
    public func reserve(_ amount: Int64, on connection: RedisConnection) throws -> Reservation? {
        guard amount >= 0 else { throw RedisError(.invalidArgument, "budget: cannot reserve a negative amount (\(amount))") }
        let reservation = Reservation(id: Self.newID(), amount: amount)
        let granted = try run(BudgetScripts.reserve, [reservation.id, amount, limit, leaseMilliseconds], on: connection)
        return granted == 1 ? reservation : nil
    }

    /// Frees the reservation and counts `actual` as spent, even when its lease had
    /// expired (the money was spent); committing it again changes nothing.
    public func commit(_ reservation: Reservation, actual: Int64, on connection: RedisConnection) throws {
        _ = try run(BudgetScripts.commit, [reservation.id, actual, leaseMilliseconds], on: connection)
    }

    /// Frees a reservation that will not be spent.
    public func release(_ reservation: Reservation, on connection: RedisConnection) throws {
        _ = try run(BudgetScripts.release, [reservation.id], on: connection)
    }

    /// Extends the reservation's lease from now; false when it had already expired.
    public func renew(_ reservation: Reservation, on connection: RedisConnection) throws -> Bool {
        try run(BudgetScripts.renew, [reservation.id, leaseMilliseconds], on: connection) == 1
    }

    /// What is spent and reserved now, expired reservations released.
    public func state(on connection: RedisConnection) throws -> State {
        let reply = try connection.resending { try BudgetScripts.state.run(on: $0, keys: allKeys, arguments: []) }
        guard let pair = reply.array, pair.count == 2, let spent = pair[0].integer, let reserved = pair[1].integer else {
            throw RedisError(.unexpectedReply, "redis: expected {spent, reserved}, got \(reply)")
        }
        return State(spent: spent, reserved: reserved)
    }

    private var allKeys: [String] { [keys.budget, keys.budgetLeases, keys.budgetReservations] }

    private var leaseMilliseconds: Int64 { lease.wholeMilliseconds }

    private func run(_ script: RedisScript, _ arguments: [any RedisArgument], on connection: RedisConnection) throws -> Int64 {
        let reply = try connection.resending { try script.run(on: $0, keys: allKeys, arguments: arguments) }
        return try reply.expect(reply.integer, "an integer from '\(script.name)'")
    }

    /// A random id, fixed before the first send so a resend reserves nothing twice.
    private static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        return String(generator.next() as UInt64, radix: 16)
    }
}
