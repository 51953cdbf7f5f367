@testable import BatchCoreRedis
import Foundation
import Synchronization
import XCTest

final class RedisLimiterTests: XCTestCase {
    func testGCRAGrantsTheBurstThenSpacesRequests() throws {
        let server = try RedisServer()
        let redis = try server.connect()
        let limiter = RedisLimiter(name: "api")
        for _ in 0..<3 { XCTAssertEqual(try limiter.acquire(perSecond: 10, burst: 3, on: redis), 0) }
        let wait = try limiter.acquire(perSecond: 10, burst: 3, on: redis)
        XCTAssertTrue((1...100).contains(wait), "the 4th of a burst of 3 at 10/s waits up to 100 ms, not \(wait)")
        usleep(useconds_t(wait * 1000))
        XCTAssertEqual(try limiter.acquire(perSecond: 10, burst: 3, on: redis), 0, "granted once the wait has passed")
        XCTAssertEqual(try redis.command("EXISTS", limiter.keys.requests), .integer(1))
    }

    func testUnitsBeyondTheBurstAreRefused() throws {
        let server = try RedisServer()
        let redis = try server.connect()
        XCTAssertThrowsError(try RedisLimiter(name: "api").acquire(5, perSecond: 10, burst: 3, on: redis)) { error in
            XCTAssertEqual((error as! RedisError).message, "limiter 'api': expected between 1 and the burst 3 units (got 5)")
        }
    }

    func testAPauseHoldsEveryAcquireAndOnlyExtends() throws {
        let server = try RedisServer()
        let redis = try server.connect()
        let limiter = RedisLimiter(name: "api")
        let until = try limiter.pause(forMilliseconds: 60_000, on: redis)
        XCTAssertEqual(try limiter.pause(forMilliseconds: 100, on: redis), until, "a shorter pause does not shorten it")
        let requestWait = try limiter.acquire(perSecond: 1000, burst: 10, on: redis)
        XCTAssertTrue((59_000...60_001).contains(requestWait), "\(requestWait)")
        let tokenWait = try limiter.acquireTokens(1, perSecond: 1000, capacity: 1000, on: redis)
        XCTAssertTrue((59_000...60_001).contains(tokenWait), "\(tokenWait)")
        XCTAssertGreaterThan(try limiter.pause(forMilliseconds: 120_000, on: redis), until, "a longer pause extends it")
        let ttl = try redis.command("PTTL", limiter.keys.pausedUntil).integer!
        XCTAssertTrue((119_000...120_001).contains(ttl), "the pause key expires with the pause: \(ttl)")
    }

    func testTokenEstimatesAreSettledBothWays() throws {
        let server = try RedisServer()
        let redis = try server.connect()
        let limiter = RedisLimiter(name: "llm")
        func acquire(_ n: Int) throws -> Int { try limiter.acquireTokens(n, perSecond: 100, capacity: 1000, on: redis) }
        func settle(_ estimated: Int, _ actual: Int) throws {
            try limiter.settleTokens(estimated: estimated, actual: actual, perSecond: 100, capacity: 1000, on: redis)
        }
        XCTAssertEqual(try acquire(800), 0)
        let wait = try acquire(800)
        XCTAssertTrue((5_000...6_000).contains(wait), "600 tokens short at 100/s: about 6 s, not \(wait) ms")
        try settle(800, 100)  // 700 given back
        XCTAssertEqual(try acquire(800), 0)
        try settle(800, 5_000)  // 4,200 more taken: the bucket is in debt
        XCTAssertGreaterThan(try acquire(1), 40_000)
    }

    func testAnEstimateAboveTheCapacityIsGrantedFromAFullBucket() throws {
        let server = try RedisServer()
        let redis = try server.connect()
        let limiter = RedisLimiter(name: "llm")
        XCTAssertEqual(try limiter.acquireTokens(5_000, perSecond: 100, capacity: 1000, on: redis), 0)
        XCTAssertGreaterThan(try limiter.acquireTokens(1, perSecond: 100, capacity: 1000, on: redis), 40_000)
    }

    /// Threads each with their own connection take as fast as they are let: over the
    /// window they get no more than rate × time + burst, and at least 95 % of the rate.
    func testGCRAHoldsTheRateAcrossThreads() throws {
        let server = try RedisServer()
        let url = server.url
        let rate = 200.0, burst = 20
        let granted = Atomic<Int>(0)
        let clock = ContinuousClock()
        let start = clock.now
        let window = Duration.seconds(3)
        onThreads(4) { _ in
            let redis = try RedisConnection(url)
            let limiter = RedisLimiter(name: "shared")
            while clock.now - start < window {
                let wait = try limiter.acquire(perSecond: rate, burst: burst, on: redis)
                if wait == 0 { granted.add(1, ordering: .relaxed) } else { usleep(useconds_t(wait * 1000)) }
            }
        }
        let elapsed = Double((clock.now - start).wholeMilliseconds) / 1000
        let count = Double(granted.load(ordering: .relaxed))
        XCTAssertLessThanOrEqual(count, rate * elapsed + Double(burst), "over \(elapsed) s")
        XCTAssertGreaterThanOrEqual(count, 0.95 * rate * 3, "over \(elapsed) s")
    }
}
