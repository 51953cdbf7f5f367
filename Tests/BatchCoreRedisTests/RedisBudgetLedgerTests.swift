@testable import BatchCoreRedis
import Synchronization
import XCTest

final class RedisBudgetLedgerTests: XCTestCase {
    func testReservationsAreRefusedPastTheLimitAndSettled() throws {
        let server = try RedisServer()
        let redis = try server.connect()
        let ledger = RedisBudgetLedger(batch: "b", limit: 100, lease: .seconds(60))
        let a = try XCTUnwrap(try ledger.reserve(60, on: redis))
        XCTAssertNil(try ledger.reserve(50, on: redis), "60 reserved + 50 > 100")
        let b = try XCTUnwrap(try ledger.reserve(40, on: redis))
        XCTAssertEqual(try ledger.state(on: redis), .init(spent: 0, reserved: 100))
        try ledger.commit(a, actual: 25, on: redis)
        XCTAssertEqual(try ledger.state(on: redis), .init(spent: 25, reserved: 40))
        try ledger.commit(a, actual: 25, on: redis)
        XCTAssertEqual(try ledger.state(on: redis), .init(spent: 25, reserved: 40), "a second commit counts nothing")
        try ledger.release(b, on: redis)
        XCTAssertEqual(try ledger.state(on: redis), .init(spent: 25, reserved: 0))
        XCTAssertNil(try ledger.reserve(76, on: redis))
        XCTAssertNotNil(try ledger.reserve(75, on: redis))
        XCTAssertThrowsError(try ledger.reserve(-1, on: redis))
    }

    func testADeadWorkersReservationIsReleasedAfterItsLease() throws {
        let server = try RedisServer()
        let redis = try server.connect()
        let ledger = RedisBudgetLedger(batch: "b", limit: 100, lease: .milliseconds(200))
        let held = try XCTUnwrap(try ledger.reserve(80, on: redis))
        XCTAssertNil(try ledger.reserve(30, on: redis))
        try waitUntil { try ledger.state(on: redis).reserved == 0 }
        XCTAssertFalse(try ledger.renew(held, on: redis), "the lease expired")
        XCTAssertNotNil(try ledger.reserve(30, on: redis))
        try ledger.commit(held, actual: 80, on: redis)
        XCTAssertEqual(try ledger.state(on: redis), .init(spent: 80, reserved: 30), "money spent past its lease still counts")
    }

    func testRenewingKeepsAReservation() throws {
        let server = try RedisServer()
        let redis = try server.connect()
        let ledger = RedisBudgetLedger(batch: "b", limit: 100, lease: .seconds(60))
        let held = try XCTUnwrap(try ledger.reserve(10, on: redis))
        XCTAssertTrue(try ledger.renew(held, on: redis))
        try ledger.commit(held, actual: 10, on: redis)
        XCTAssertFalse(try ledger.renew(held, on: redis), "a committed reservation is no longer held")
    }

    /// Threads reserve and spend one unit at a time until refused: exactly the limit is spent.
    func testConcurrentReservationsNeverPassTheLimit() throws {
        let server = try RedisServer()
        let url = server.url
        onThreads(4) { _ in
            let redis = try RedisConnection(url)
            let ledger = RedisBudgetLedger(batch: "b", limit: 500, lease: .seconds(60))
            while let reservation = try ledger.reserve(1, on: redis) {
                try ledger.commit(reservation, actual: 1, on: redis)
            }
        }
        let ledger = RedisBudgetLedger(batch: "b", limit: 500, lease: .seconds(60))
        XCTAssertEqual(try ledger.state(on: try server.connect()), .init(spent: 500, reserved: 0))
    }
}
