@testable import BatchCoreRedis
import XCTest

final class RedisURLTests: XCTestCase {
    func testTCPURLsParse() throws {
        XCTAssertEqual(try RedisURL("redis://localhost"), RedisURL(endpoint: .tcp(host: "localhost", port: 6379)))
        XCTAssertEqual(try RedisURL("redis://10.0.0.5:6380/2"), RedisURL(endpoint: .tcp(host: "10.0.0.5", port: 6380), database: 2))
        XCTAssertEqual(try RedisURL("redis://user:pass@host:6379/2"),
                       RedisURL(endpoint: .tcp(host: "host", port: 6379), username: "user", password: "pass", database: 2))
        XCTAssertEqual(try RedisURL("redis://:secret@host"),
                       RedisURL(endpoint: .tcp(host: "host", port: 6379), password: "secret"))
        XCTAssertEqual(try RedisURL("redis://[::1]:7000"), RedisURL(endpoint: .tcp(host: "::1", port: 7000)))
        XCTAssertEqual(try RedisURL("redis://host/"), RedisURL(endpoint: .tcp(host: "host", port: 6379)))
    }

    func testCredentialsArePercentDecodedAndMayHoldAnAt() throws {
        let url = try RedisURL("redis://app%3Aone:p%40ss%2Fw@host:1")
        XCTAssertEqual(url.username, "app:one")
        XCTAssertEqual(url.password, "p@ss/w")
        XCTAssertEqual(try RedisURL("redis://u:p@ss@host").password, "p@ss")
    }

    func testUnixURLsParse() throws {
        XCTAssertEqual(try RedisURL("unix:///run/redis.sock"), RedisURL(endpoint: .unix(path: "/run/redis.sock")))
        XCTAssertEqual(try RedisURL("unix:///run/redis.sock?db=3"), RedisURL(endpoint: .unix(path: "/run/redis.sock"), database: 3))
        XCTAssertEqual(try RedisURL("unix://:pw@/run/redis.sock"), RedisURL(endpoint: .unix(path: "/run/redis.sock"), password: "pw"))
    }

    func testDescriptionMasksThePassword() throws {
        XCTAssertEqual(try RedisURL("redis://user:hunter2@host:6379/2").description, "redis://user:***@host:6379/2")
        XCTAssertEqual(try RedisURL("redis://:hunter2@host").description, "redis://:***@host:6379")
        XCTAssertEqual(try RedisURL("redis://user@host").description, "redis://user@host:6379")
        XCTAssertEqual(try RedisURL("unix://:hunter2@/s.sock?db=1").description, "unix://:***@/s.sock?db=1")
        XCTAssertEqual(try RedisURL("redis://[::1]").description, "redis://[::1]:6379")
    }

    func testBadURLsNameTheURLWithThePasswordMasked() {
        let cases = [
            ("http://host", "must start with redis:// or unix://"),
            ("redis://", "no host"),
            ("redis://u:hunter2@host:99999", "port '99999'"),
            ("redis://u:hunter2@host:x/1", "port 'x'"),
            ("redis://u:hunter2@host/db", "database 'db'"),
            ("redis://u:hunter2@host/-1", "database '-1'"),
            ("redis://u:hunt%zz@host", "'%' not followed by two hex digits"),
            ("redis://[::1:6379", "closing ']'"),
            ("unix://relative.sock", "absolute path"),
            ("unix:///s.sock?database=1", "?db=N"),
        ]
        for (text, why) in cases {
            XCTAssertThrowsError(try RedisURL(text), text) { error in
                let e = error as! RedisError
                XCTAssertEqual(e.kind, .badURL)
                XCTAssertTrue(e.message.contains("bad Redis URL '"), e.message)
                XCTAssertTrue(e.message.contains(why), "\(e.message) lacks \(why)")
                XCTAssertFalse(e.message.contains("hunter2"), e.message)
                XCTAssertFalse(e.message.contains("hunt%zz"), e.message)
            }
        }
    }
}
