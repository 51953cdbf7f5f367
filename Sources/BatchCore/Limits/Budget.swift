/// A spending cap for one batch (`budget`): what finished documents cost,
/// and whether another document may start without likely crossing the cap.
///
/// A document is expected to cost what finished ones cost on average (before
/// any has finished: the estimate its processors give). Documents started
/// and not finished yet hold that much each, so many workers starting at
/// once cannot overshoot together.
final class Budget: Sendable {
    let limit: Double
    private let state: Locked<State>

    private struct State {
        var spent: Double
        var finished: UInt64
        var open: UInt64 = 0
        var reached = false
    }

    /// `spent` and `finished`: what earlier runs of the journal already used.
    init(limit: Double, spent: Double, finished: UInt64) {
        self.limit = limit
        state = Locked(State(spent: spent, finished: finished))
    }

    /// Reserves room for one more document; false (for good) once the next
    /// one would likely cross the limit. `firstGuess` (asking processors for
    /// estimates) runs only until a document has finished, and outside the lock.
    func admit(firstGuess: () -> Double) -> Bool {
        let guess = state.withLock { $0.finished } > 0 ? 0 : firstGuess()
        return state.withLock { s in
            guard !s.reached else { return false }
            let expected = s.finished > 0 ? s.spent / Double(s.finished) : guess
            if s.spent + Double(s.open + 1) * expected > limit {
                s.reached = true
                return false
            }
            s.open += 1
            return true
        }
    }

    /// An admitted document finished, having cost `cost`.
    func finished(cost: Double) {
        state.withLock { s in
            if s.open > 0 { s.open -= 1 }
            s.spent += cost
            s.finished += 1
        }
    }

    var spent: Double { state.withLock { $0.spent } }
    var reached: Bool { state.withLock { $0.reached } }
}
