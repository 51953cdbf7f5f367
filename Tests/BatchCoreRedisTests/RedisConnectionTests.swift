@testable import BatchCoreRedis
import XCTest

final class RedisConnectionTests: XCTestCase {
    func testArgumentsAndRepliesAreBinarySafe() throws {
        let server = try RedisServer()
        let redis = try server.connect()
        let bytes: [UInt8] = [0, 13, 10, 255, 36, 0]
        XCTAssertEqual(try redis.command("SET", "k\0\r\n", bytes), .status("OK"))
        XCTAssertEqual(try redis.command("GET", "k\0\r\n"), .bulk(bytes))
        XCTAssertEqual(try redis.command("SET", "empty", ""), .status("OK"))
        XCTAssertEqual(try redis.command("GET", "empty"), .bulk([]))
    }

    func testRepliesAreDecodedByType() throws {
        let server = try RedisServer()
        let redis = try server.connect()
        XCTAssertEqual(try redis.command("GET", "missing"), .null)
        XCTAssertEqual(try redis.command("INCRBY", "n", 41), .integer(41))
        XCTAssertEqual(try redis.command("INCR", "n").integer, 42)
        XCTAssertEqual(try redis.command("RPUSH", "list", "a", Int64(2), 1.5), .integer(3))
        XCTAssertEqual(try redis.command("LRANGE", "list", 0, -1), .array([.bulk(Array("a".utf8)), .bulk(Array("2".utf8)), .bulk(Array("1.5".utf8))]))
        XCTAssertEqual(try redis.command("PING"), .status("PONG"))
        XCTAssertThrowsError(try redis.command("lpush", "n", "x")) { error in
            let e = error as! RedisError
            XCTAssertEqual(e.kind, .server)
            XCTAssertTrue(e.message.contains("LPUSH failed: WRONGTYPE"), e.message)
        }
        XCTAssertEqual(try redis.command("PING"), .status("PONG"), "an error reply leaves the connection usable")
    }

    func testPipelineOf10000CommandsReturnsEveryReplyInOrder() throws {
        let server = try RedisServer()
        let redis = try server.connect()
        let sets = (0..<10_000).map { ["SET", "key:\($0)", $0] as [any RedisArgument] }
        XCTAssertEqual(try redis.pipeline(sets), Array(repeating: .status("OK"), count: 10_000))
        let gets = (0..<10_000).map { ["GET", "key:\($0)"] as [any RedisArgument] }
        XCTAssertEqual(try redis.pipeline(gets).map(\.integer), (0..<10_000).map { Int64($0) })
        let mixed = try redis.pipeline([["INCR", "key:1"], ["LPUSH", "key:2", "x"], ["GET", "key:1"]])
        XCTAssertEqual(mixed[0], .integer(2))
        XCTAssertTrue(mixed[1].isError, "an error reply stays in place: \(mixed[1])")
        XCTAssertEqual(mixed[2].integer, 2)
    }

    func testARefusedConnectionSaysWhereAndWhat() throws {
        let port = try RedisServer.freePort()
        let url = try RedisURL("redis://u:hunter2@127.0.0.1:\(port)/1")
        XCTAssertThrowsError(try RedisConnection(url)) { error in
            let e = error as! RedisError
            XCTAssertEqual(e.kind, .connect)
            XCTAssertEqual(e.message, "cannot connect to redis://u:***@127.0.0.1:\(port)/1: Connection refused; is redis-server running there?")
        }
    }

    func testPasswordIsCheckedAtConnect() throws {
        let server = try RedisServer(.init(extra: ["--requirepass", "s3cret"]))
        let base = "redis://:%@127.0.0.1:\(server.port)"
        for (password, answer) in [("wrong", "WRONGPASS"), (nil, "NOAUTH")] {
            let url = try RedisURL(password.map { base.replacingOccurrences(of: "%", with: $0) } ?? "redis://127.0.0.1:\(server.port)")
            XCTAssertThrowsError(try RedisConnection(url)) { error in
                let e = error as! RedisError
                XCTAssertEqual(e.kind, .authentication)
                XCTAssertTrue(e.message.contains("refused the login: \(answer)"), e.message)
                XCTAssertTrue(e.message.contains("check the user name and password"), e.message)
                XCTAssertFalse(e.message.contains("wrong"), e.message)
            }
        }
        let redis = try RedisConnection(try RedisURL(base.replacingOccurrences(of: "%", with: "s3cret")))
        XCTAssertEqual(try redis.command("PING"), .status("PONG"))
    }

    func testACLUserLogsInWithNameAndPassword() throws {
        let server = try RedisServer(.init(extra: ["--user", "alice", "on", ">wonder", "~*", "&*", "+@all"]))
        let redis = try RedisConnection(try RedisURL("redis://alice:wonder@127.0.0.1:\(server.port)"))
        XCTAssertEqual(try redis.command("ACL", "WHOAMI").string, "alice")
        XCTAssertThrowsError(try RedisConnection(try RedisURL("redis://alice:land@127.0.0.1:\(server.port)"))) { error in
            XCTAssertEqual((error as! RedisError).kind, .authentication)
        }
    }

    func testTheURLsDatabaseIsSelectedAndUnixSocketsWork() throws {
        let server = try RedisServer()
        let tcp = try RedisConnection(try RedisURL("redis://127.0.0.1:\(server.port)/3"))
        try tcp.command("SET", "where", "db3")
        let unix = try RedisConnection(try RedisURL("unix://\(server.socketPath)?db=3"))
        XCTAssertEqual(try unix.command("GET", "where").string, "db3")
        let other = try RedisConnection(try RedisURL("unix://\(server.socketPath)"))
        XCTAssertEqual(try other.command("GET", "where"), .null)
    }

    func testScriptsFallBackToEvalWhenTheServerForgotThem() throws {
        let server = try RedisServer()
        let redis = try server.connect()
        let echo = RedisScript(name: "echo", source: "return {KEYS[1], ARGV[1]}")
        let expected = RedisReply.array([.bulk(Array("k".utf8)), .bulk([0, 1])])
        XCTAssertEqual(try echo.run(on: redis, keys: ["k"], arguments: [[0, 1] as [UInt8]]), expected)
        try redis.command("SCRIPT", "FLUSH")
        XCTAssertEqual(try echo.run(on: redis, keys: ["k"], arguments: [[0, 1] as [UInt8]]), expected)
        let failing = RedisScript(name: "failing", source: "return redis.error_reply('no luck')")
        XCTAssertThrowsError(try failing.run(on: redis, keys: [], arguments: [])) { error in
            XCTAssertEqual((error as! RedisError).message, "redis: script 'failing' failed: no luck")
        }
    }
}
