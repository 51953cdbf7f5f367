/// A spending cap for one batch (`budget`): what finished documents cost,
/// and whether another document may start without likely crossing the cap.
///
/// A document is expected to cost what finished ones cost on average (before
/// any has finished: the estimate its processors give). Documents started
/// and not finished yet hold that much each, so many workers starting at
/// once cannot overshoot together.
final class Budget: BudgetLedger {
    let limit: Double
    private let state: Locked<State>

    private struct State {
        var spent: Double
        var finished: UInt64
        var open: UInt64 = 0
        var reached = false
        var lastID: UInt64 = 0
    }

    /// `spent` and `finished`: what earlier runs of the journal already used.
    init(limit: Double, spent: Double, finished: UInt64) {
        self.limit = limit
        state = Locked(State(spent: spent, finished: finished))
    }

    /// Refused for good once the next document would likely cross the
    /// limit. The estimate runs only until a document has finished, and
    /// outside the lock.
    func reserve(estimate: () -> Double) -> BudgetReservation? {
        let guess = state.withLock { $0.finished } > 0 ? 0 : estimate()
        return state.withLock { s in
            guard !s.reached else { return nil }
            let expected = s.finished > 0 ? s.spent / Double(s.finished) : guess
            if s.spent + Double(s.open + 1) * expected > limit {
                s.reached = true
                return nil
            }
            s.open += 1
            s.lastID += 1
            return BudgetReservation(id: s.lastID, amount: expected)
        }
    }

    func commit(_ reservation: BudgetReservation, cost: Double) {
        state.withLock { s in
            if s.open > 0 { s.open -= 1 }
            s.spent += cost
            s.finished += 1
        }
    }

    func release(_ reservation: BudgetReservation) {
        state.withLock { s in
            if s.open > 0 { s.open -= 1 }
        }
    }

    var spent: Double { state.withLock { $0.spent } }
}
