@testable import BatchCoreRedis
import Foundation
import Synchronization
import XCTest

final class RedisReconnectTests: XCTestCase {
    /// Counts the outages a connection reports.
    final class Outages {
        var lost = 0
        var restored = 0
        func watch(_ connection: RedisConnection) {
            connection.onConnectionLost = { [unowned self] _ in lost += 1 }
            connection.onReconnected = { [unowned self] _ in restored += 1 }
        }
    }

    func testAnOutageIsReportedOnceAndTheDataSurvivesARestart() throws {
        let server = try RedisServer(.init(appendOnly: true))
        var options = RedisConnection.Options()
        options.reconnectTimeout = .milliseconds(300)
        let redis = try server.connect(options)
        let outages = Outages()
        outages.watch(redis)
        let results = RedisResults(batch: "b")
        _ = try results.commit([.init(id: "d1", status: "ok", encoded: [1])], on: redis)

        server.stop()
        for _ in 0..<3 {
            XCTAssertThrowsError(try redis.command("PING")) { error in
                let e = error as! RedisError
                XCTAssertEqual(e.kind, .connectionLost)
                XCTAssertTrue(e.message.hasPrefix("lost the connection to redis://127.0.0.1:\(server.port)"), e.message)
            }
        }
        XCTAssertEqual(outages.lost, 1, "one outage, reported once")
        XCTAssertEqual(outages.restored, 0)

        try server.start()
        XCTAssertEqual(try results.result(for: "d1", on: redis), [1], "the AOF kept the committed result")
        let again = try results.commit([.init(id: "d1", status: "ok", encoded: [2]), .init(id: "d2", status: "ok", encoded: [3])], on: redis)
        XCTAssertEqual(again, .init(committed: ["d2"], alreadyCommitted: ["d1"]), "scripts run after the restart forgot them")
        XCTAssertEqual(outages.lost, 1)
        XCTAssertEqual(outages.restored, 1)
    }

    func testACallWaitsWithBackoffForTheServerToComeBack() throws {
        let server = try RedisServer(.init(appendOnly: true))
        let redis = try server.connect()
        let outages = Outages()
        outages.watch(redis)
        try redis.command("SET", "k", "v")
        let lostOnce = DispatchSemaphore(value: 0)
        redis.onConnectionLost = { _ in
            outages.lost += 1
            lostOnce.signal()
        }
        let restarted = DispatchSemaphore(value: 0)
        let restartError = Mutex<Error?>(nil)
        let restarter = Thread { [server] in
            lostOnce.wait()
            do { try server.start() } catch { restartError.withLock { $0 = error } }
            restarted.signal()
        }
        server.stop()
        restarter.start()
        let value = try redis.resending { try $0.command("GET", "k") }
        restarted.wait()
        XCTAssertNil(restartError.withLock { $0 })
        XCTAssertEqual(value.string, "v")
        XCTAssertEqual(outages.lost, 1)
        XCTAssertEqual(outages.restored, 1)
    }

    func testAServerStillLoadingItsDataIsWaitedFor() throws {
        let server = try RedisServer(.init(appendOnly: true, extra: ["--enable-debug-command", "local"]))
        var options = RedisConnection.Options()
        options.reconnectTimeout = .seconds(60)
        let redis = try server.connect(options)
        try redis.command("DEBUG", "POPULATE", 300_000)
        try redis.command("BGREWRITEAOF")
        try waitUntil {
            let info = try redis.command("INFO", "persistence").string ?? ""
            return info.contains("aof_rewrite_in_progress:0") && info.contains("aof_rewrite_scheduled:0")
                && info.contains("aof_last_bgrewrite_status:ok")
        }
        server.stop()
        try server.start(untilReady: false)
        XCTAssertEqual(try redis.resending { try $0.command("DBSIZE") }, .integer(300_000))
    }
}
