import BatchCore

/// A batch's budget shared by every worker, as the engine's `BudgetLedger`:
/// money (in micro-dollars on the server) reserved before a document runs,
/// committed or released after, under a lease so a dead worker's
/// reservations return to the batch.
public final class SharedBudgetLedger: BudgetLedger {
    public let limit: Double
    private let ledger: RedisBudgetLedger
    private let pool: RedisConnectionPool
    private let log: @Sendable (String) -> Void
    private static let micro = 1_000_000.0

    public init(batch: String, limit: Double, lease: Duration, pool: RedisConnectionPool, log: @escaping @Sendable (String) -> Void) {
        self.limit = limit
        ledger = RedisBudgetLedger(batch: batch, limit: Int64(limit * Self.micro), lease: lease)
        self.pool = pool
        self.log = log
    }

    public var spent: Double {
        ((try? pool.with { try ledger.state(on: $0) })?.spent).map { Double($0) / Self.micro } ?? 0
    }

    public func reserve(estimate: () -> Double) -> BudgetReservation? {
        let amount = Int64((estimate() * Self.micro).rounded(.up))
        do {
            guard let held = try pool.with({ try ledger.reserve(amount, on: $0) }) else { return nil }
            return BudgetReservation(id: UInt64(held.id, radix: 16) ?? 0, amount: Double(amount) / Self.micro)
        } catch {
            log("budget: reserving failed: \(error); starting no new document")
            return nil
        }
    }

    public func commit(_ reservation: BudgetReservation, cost: Double) {
        do {
            try pool.with { try ledger.commit(held(reservation), actual: Int64((cost * Self.micro).rounded()), on: $0) }
        } catch {
            log("budget: committing a cost of \(cost) failed: \(error)")
        }
    }

    public func release(_ reservation: BudgetReservation) {
        try? pool.with { try ledger.release(held(reservation), on: $0) }
    }

    /// The server's name for a reservation; the job carries it to any machine.
    private func held(_ reservation: BudgetReservation) -> RedisBudgetLedger.Reservation {
        RedisBudgetLedger.Reservation(id: String(reservation.id, radix: 16), amount: Int64(reservation.amount * Self.micro))
    }
}
