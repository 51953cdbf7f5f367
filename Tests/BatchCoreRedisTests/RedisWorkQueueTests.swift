@testable import BatchCore
@testable import BatchCoreRedis
import XCTest

final class RedisWorkQueueTests: XCTestCase {
    private func jobs(_ names: String...) -> [[UInt8]] { names.map { Array($0.utf8) } }
    private func names(_ claimed: [RedisWorkQueue.Claimed]) -> [String] { claimed.map { String(decoding: $0.job, as: UTF8.self) } }

    func testConsumersClaimDisjointJobsAndAckDeletesThem() throws {
        let server = try RedisServer()
        let redis = try server.connect()
        let queue = RedisWorkQueue(batch: "b", lease: .seconds(60))
        try queue.add(jobs("j0"), on: redis)  // before the group: still delivered
        try queue.create(on: redis)
        try queue.create(on: redis)  // idempotent
        try queue.add(jobs("j1", "j2", "j3", "j4"), on: redis)
        let a = try queue.claim(upTo: 2, consumer: "a", on: redis)
        let b = try queue.claim(upTo: 10, consumer: "b", on: redis)
        XCTAssertEqual(names(a), ["j0", "j1"])
        XCTAssertEqual(names(b), ["j2", "j3", "j4"])
        XCTAssertEqual(try queue.claim(upTo: 10, consumer: "c", on: redis), [])
        try queue.ack(a.map(\.entry), on: redis)
        XCTAssertEqual(try redis.command("XLEN", queue.keys.jobs), .integer(3), "acked entries are deleted")
        XCTAssertEqual(try redis.command("XPENDING", queue.keys.jobs, RedisWorkQueue.group).array?.first, .integer(3))
    }

    func testAnExpiredLeaseIsReclaimedByTheNextClaim() throws {
        let server = try RedisServer()
        let redis = try server.connect()
        let queue = RedisWorkQueue(batch: "b", lease: .milliseconds(300))
        try queue.create(on: redis)
        try queue.add(jobs("j1", "j2"), on: redis)
        let dead = try queue.claim(upTo: 2, consumer: "dead", on: redis)
        var reclaimed: [RedisWorkQueue.Claimed] = []
        try waitUntil {
            reclaimed = try queue.claim(upTo: 5, consumer: "alive", on: redis)
            return !reclaimed.isEmpty
        }
        XCTAssertEqual(reclaimed, dead)
        XCTAssertEqual(try queue.renew(dead.map(\.entry), consumer: "dead", on: redis), [], "the dead consumer lost them")
        XCTAssertFalse(try queue.giveBack(dead[0], consumer: "dead", after: .zero, on: redis))
        XCTAssertEqual(try queue.renew(dead.map(\.entry), consumer: "alive", on: redis), dead.map(\.entry))
    }

    func testWithoutExpiredFirstANewJobComesBeforeAnExpiredOneWhichComesWhenNothingIsNew() throws {
        let server = try RedisServer()
        let redis = try server.connect()
        let queue = RedisWorkQueue(batch: "b", lease: .milliseconds(100))
        try queue.create(on: redis)
        try queue.add(jobs("old"), on: redis)
        _ = try queue.claim(upTo: 1, consumer: "dead", on: redis)
        try waitUntil { try idleMilliseconds(queue, redis) >= 100 }
        try queue.add(jobs("new"), on: redis)
        XCTAssertEqual(names(try queue.claim(upTo: 5, consumer: "a", expiredFirst: false, on: redis)), ["new"])
        XCTAssertEqual(names(try queue.claim(upTo: 5, consumer: "a", expiredFirst: false, on: redis)), ["old"])
    }

    func testKnownResultsRememberThatADocumentHasNoResult() throws {
        let server = try RedisServer()
        let redis = try server.connect()
        let results = RedisResults(batch: "b")
        let done = DocumentResult(document: Document(id: "done", path: "/d"), status: .ok, output: nil, outputIsJSON: false,
                                  error: nil, attempts: 1, failedStage: nil, failedStageLabel: nil, durationMs: 0,
                                  inputTokens: 0, outputTokens: 0)
        _ = try results.commit([.init(id: "done", status: "ok", encoded: StoredLine.encode(done, format: JSONLFormat()))], on: redis)
        let known = KnownResults()
        try known.learn(about: [Job(document: done.document), Job(document: Document(id: "new", path: "/n"))],
                        results: results, on: redis)
        XCTAssertEqual(known.take("done"), .some(.ok))
        XCTAssertEqual(known.take("new"), .some(nil), "known to have no result: no round trip of its own")
        XCTAssertNil(known.take("never-claimed"))
    }

    func testRenewingALeaseKeepsTheJob() throws {
        let server = try RedisServer()
        let redis = try server.connect()
        let queue = RedisWorkQueue(batch: "b", lease: .seconds(1))
        try queue.create(on: redis)
        try queue.add(jobs("j1"), on: redis)
        let held = try queue.claim(upTo: 1, consumer: "a", on: redis)
        try waitUntil { try idleMilliseconds(queue, redis) >= 1_000 }
        XCTAssertEqual(try queue.renew(held.map(\.entry), consumer: "a", on: redis), held.map(\.entry))
        XCTAssertEqual(try queue.claim(upTo: 1, consumer: "b", on: redis), [], "renewed: not reclaimed")
        XCTAssertEqual(try pendingOwner(queue, redis), "a")
    }

    func testAJobGivenBackReturnsWhenDue() throws {
        let server = try RedisServer()
        let redis = try server.connect()
        let queue = RedisWorkQueue(batch: "b", lease: .seconds(60))
        try queue.create(on: redis)
        try queue.add(jobs("later", "now"), on: redis)
        let claimed = try queue.claim(upTo: 2, consumer: "a", on: redis)
        XCTAssertTrue(try queue.giveBack(claimed[0], consumer: "a", after: .seconds(600), on: redis))
        XCTAssertTrue(try queue.giveBack(claimed[1], consumer: "a", after: .zero, on: redis))
        XCTAssertEqual(try redis.command("XLEN", queue.keys.jobs), .integer(0), "given back: acked and deleted")
        XCTAssertEqual(try queue.moveDue(limit: 10, on: redis), 1)
        XCTAssertEqual(try queue.moveDue(limit: 10, on: redis), 0)
        XCTAssertEqual(names(try queue.claim(upTo: 5, consumer: "b", on: redis)), ["now"])
        XCTAssertEqual(try redis.command("ZRANGE", queue.keys.delayed, 0, -1), .array([.bulk(Array("later".utf8))]))
    }

    private func pendingEntry(_ queue: RedisWorkQueue, _ redis: RedisConnection) throws -> [RedisReply] {
        let reply = try redis.command("XPENDING", queue.keys.jobs, RedisWorkQueue.group, "-", "+", 1)
        return try XCTUnwrap(reply.array?.first?.array)
    }

    private func idleMilliseconds(_ queue: RedisWorkQueue, _ redis: RedisConnection) throws -> Int64 {
        try XCTUnwrap(try pendingEntry(queue, redis)[2].integer)
    }

    private func pendingOwner(_ queue: RedisWorkQueue, _ redis: RedisConnection) throws -> String? {
        try pendingEntry(queue, redis)[1].string
    }
}
