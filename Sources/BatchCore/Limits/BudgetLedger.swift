/// Money a batch may spend: each new document reserves what it will likely
/// cost before it starts, then commits what it really cost, or releases
/// the reservation when it will not run. The local implementation is
/// `Budget`; a shared one keeps spent + reserved on a server.
public protocol BudgetLedger: AnyObject, Sendable {
    var limit: Double { get }
    /// What finished documents cost so far, earlier runs included.
    var spent: Double { get }
    /// Reserves room for one more document, or nil once the next one would
    /// likely cross the limit. `estimate` (asking processors) is called
    /// only when the ledger needs it.
    func reserve(estimate: () -> Double) -> BudgetReservation?
    /// The reserved document finished, having cost `cost`.
    func commit(_ reservation: BudgetReservation, cost: Double)
    /// The reserved document will not run (the batch stopped).
    func release(_ reservation: BudgetReservation)
}

/// Room held for one document until it is committed or released.
public struct BudgetReservation: Sendable, Hashable {
    public let id: UInt64
    public let amount: Double

    public init(id: UInt64, amount: Double) {
        self.id = id
        self.amount = amount
    }
}
