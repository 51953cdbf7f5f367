@testable import BatchCoreRedis
import Synchronization
import XCTest

final class RedisResultsTests: XCTestCase {
    func testTheFirstCommitOfAnIdWinsAndStatusesAreCounted() throws {
        let server = try RedisServer()
        let redis = try server.connect()
        let results = RedisResults(batch: "b1")
        let first = try results.commit([.init(id: "a", status: "ok", encoded: [1]), .init(id: "b", status: "failed", encoded: [2])], on: redis)
        XCTAssertEqual(first, .init(committed: ["a", "b"], alreadyCommitted: []))
        let second = try results.commit([.init(id: "b", status: "ok", encoded: [9]), .init(id: "c", status: "ok", encoded: [3])], on: redis)
        XCTAssertEqual(second, .init(committed: ["c"], alreadyCommitted: ["b"]))
        XCTAssertEqual(try results.result(for: "b", on: redis), [2], "the first result is kept")
        XCTAssertNil(try results.result(for: "z", on: redis))
        XCTAssertEqual(try results.counts(on: redis), ["ok": 2, "failed": 1])
        XCTAssertEqual(try RedisResults(batch: "b2").counts(on: redis), [:], "batches are kept apart")
    }

    func testTheFirstResultForAContentHashIsEveryonesResult() throws {
        let server = try RedisServer()
        let redis = try server.connect()
        let results = RedisResults(batch: "b1")
        XCTAssertNil(try results.rememberFirst(contentHash: "h1", result: [1], on: redis))
        XCTAssertEqual(try results.rememberFirst(contentHash: "h1", result: [2], on: redis), [1])
        XCTAssertEqual(try results.firstResult(contentHash: "h1", on: redis), [1])
        XCTAssertNil(try results.firstResult(contentHash: "h2", on: redis))
    }

    /// Threads each with their own connection commit the same ids in different
    /// orders and groups: each id is reported committed to exactly one of them.
    func testConcurrentCommitsCommitEachIdExactlyOnce() throws {
        let server = try RedisServer()
        let url = server.url
        let ids = (0..<2_000).map { "doc-\($0)" }
        let committedBy = Mutex<[[String]]>(Array(repeating: [], count: 4))
        onThreads(4) { thread in
            let redis = try RedisConnection(url)
            let results = RedisResults(batch: "race")
            var mine: [String] = []
            var order = ids.shuffled()
            while !order.isEmpty {
                let group = order.prefix(Int.random(in: 1...50))
                order.removeFirst(group.count)
                let commit = try results.commit(group.map { .init(id: $0, status: "ok", encoded: Array("\(thread)".utf8)) }, on: redis)
                XCTAssertEqual(Set(commit.committed + commit.alreadyCommitted), Set(group))
                mine += commit.committed
            }
            committedBy.withLock { $0[thread] = mine }
        }
        let all = committedBy.withLock { $0.flatMap { $0 } }
        XCTAssertEqual(all.count, ids.count, "no id committed twice")
        XCTAssertEqual(Set(all), Set(ids), "every id committed")
        let redis = try server.connect()
        XCTAssertEqual(try RedisResults(batch: "race").counts(on: redis), ["ok": 2_000])
        let winners = committedBy.withLock { $0 }
        for (thread, mine) in winners.enumerated() {
            for id in mine.prefix(20) {
                XCTAssertEqual(try RedisResults(batch: "race").result(for: id, on: redis), Array("\(thread)".utf8), "the stored result is the winner's")
            }
        }
    }
}
