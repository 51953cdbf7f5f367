@testable import BatchCore
import Synchronization
import XCTest

final class RetryTests: XCTestCase {
    func testBackoffCeilingsDoubleUpToTheMaximum() {
        let backoff = Backoff(base: 1, max: 60)
        XCTAssertEqual((1...8).map { backoff.ceiling(afterAttempt: $0) }, [1, 2, 4, 8, 16, 32, 60, 60])
        XCTAssertEqual(backoff.ceiling(afterAttempt: 500), 60)  // no overflow on long runs
        XCTAssertEqual(Backoff(base: 0, max: 60).ceiling(afterAttempt: 3), 0)
    }

    func testBackoffDelaysStayWithinZeroAndTheCeilingAndSpreadOut() {
        let backoff = Backoff(base: 0.5, max: 3)
        for attempt in 1...10 {
            let ceiling = backoff.ceiling(afterAttempt: attempt)
            let delays = (0..<500).map { _ in Double(backoff.delayNanos(afterAttempt: attempt)) / 1e9 }
            XCTAssertTrue(delays.allSatisfy { $0 >= 0 && $0 <= ceiling + 1e-9 }, "attempt \(attempt)")
            // Full jitter: the delays cover the range, they are not all near the ceiling.
            XCTAssertLessThan(delays.min()!, ceiling * 0.1)
            XCTAssertGreaterThan(delays.max()!, ceiling * 0.9)
        }
    }

    /// Start times of the attempts of one document that always asks for a retry.
    private func attemptTimes(_ options: [String: String]) throws -> (times: [UInt64], batch: Batch) {
        let engine = Engine()
        let times = Locked([UInt64]())
        let p = ClosureProcessor("flaky") { call, _ in
            times.withLock { $0.append(monotonicNanos()) }
            call.error = "try later"
            return .retry
        }
        let batch = try makeBatch(engine, p, documents: 1, options: options.merging([
            "retry.attempts": "5", "retry.base": "50ms", "retry.max": "120ms"]) { a, _ in a })
        try batch.start()
        XCTAssertTrue(try batch.wait(timeout: 60))
        return (times.withLock { $0 }, batch)
    }

    /// Gaps between attempts, in seconds.
    private func gaps(_ t: [UInt64]) -> [Double] {
        zip(t, t.dropFirst()).map { Double($1 - $0) / 1e9 }
    }

    private let ceilings = [0.05, 0.1, 0.12, 0.12]
    /// Room for a loaded machine: the upper bounds only say the backoff is bounded.
    private let slack = 5.0

    /// Jittered: the gaps stay under each attempt's ceiling, and attempts are counted.
    func testRetriesWaitWithinTheirCeilingsAndAreCounted() throws {
        let (t, batch) = try attemptTimes([:])
        XCTAssertEqual(t.count, 5)
        for (i, (gap, ceiling)) in zip(gaps(t), ceilings).enumerated() {
            XCTAssertLessThan(gap, ceiling + slack, "gap after attempt \(i + 1)")
        }
        let result = batch.finishedResults[0]
        XCTAssertEqual(result.status, .failed)
        XCTAssertEqual(result.attempts, 5)
        XCTAssertEqual(result.error, "gave up after 5 attempts: try later")
        XCTAssertEqual(batch.stats.attempts, 5)
        XCTAssertEqual(batch.stats.retries, 4)
    }

    /// Without jitter each retry waits its whole ceiling: never less.
    func testRetriesWithoutJitterWaitTheWholeCeiling() throws {
        let (t, _) = try attemptTimes(["retry.jitter": "false"])
        XCTAssertEqual(t.count, 5)
        for (i, (gap, ceiling)) in zip(gaps(t), ceilings).enumerated() {
            XCTAssertGreaterThanOrEqual(gap, ceiling - 0.001, "gap after attempt \(i + 1) is shorter than its backoff")
            XCTAssertLessThan(gap, ceiling + slack, "gap after attempt \(i + 1)")
        }
        XCTAssertEqual(Backoff(base: 0.5, max: 3, jitter: false).delayNanos(afterAttempt: 2), 1_000_000_000)
    }

    /// One worker, a call that never returns by itself: at the timeout it is
    /// abandoned, a new thread takes over, every document finishes, and the
    /// stage is not stopped while the stuck call is still inside it.
    func testAHungCallIsAbandonedAndItsWorkerReplaced() throws {
        let engine = Engine()
        let release = Atomic<Bool>(false)
        let p = ClosureProcessor("hangs") { _, doc in
            if doc.document.id == "hangs-0" && doc.attempt == 1 {
                while !release.load(ordering: .acquiring) { sleepMs(1) }  // ignores is_cancelled
            }
            return .done
        }
        let batch = try makeBatch(engine, p, documents: 5, options: [
            "workers": "1", "timeout": "100ms", "timeout.grace": "0", "retry.base": "0"])
        try batch.start()
        XCTAssertTrue(try batch.wait(timeout: 30))
        let stats = batch.stats
        XCTAssertEqual(stats.ok, 5)
        XCTAssertEqual(stats.timeouts, 1)
        XCTAssertEqual(stats.inFlight, 0)
        XCTAssertEqual(batch.finishedResults.first { $0.document.id == "hangs-0" }?.attempts, 2)
        XCTAssertEqual(p.stops.load(ordering: .relaxed), 0)  // the stuck call still uses it
        release.store(true, ordering: .releasing)
    }

    /// A call that notices is_cancelled at its timeout returns by itself:
    /// nothing is left behind and the stage is stopped as usual.
    func testACooperativeCallStopsAtItsTimeout() throws {
        let engine = Engine()
        let p = ClosureProcessor("polls") { call, doc in
            if doc.document.id == "polls-1" {
                while !call.isCancelled { sleepMs(1) }
                return .retry
            }
            return .done
        }
        let batch = try makeBatch(engine, p, documents: 3, options: [
            "timeout": "50ms", "retry.attempts": "2", "retry.base": "0"])
        try batch.start()
        XCTAssertTrue(try batch.wait(timeout: 30))
        XCTAssertEqual(batch.stats.timeouts, 2)
        let failed = batch.finishedResults.first { $0.document.id == "polls-1" }
        XCTAssertEqual(failed?.status, .failed)
        XCTAssertEqual(failed?.error, "gave up after 2 attempts: timed out after 50ms")
        XCTAssertEqual(p.stops.load(ordering: .relaxed), 1)
    }
}
