@testable import BatchCore
import Glibc
import XCTest

/// Wait statuses of real children, decoded once for exec and isolation alike.
final class ChildExitTests: XCTestCase {
    private func exit(of script: String) throws -> ChildExit {
        try ChildProcess.run(ChildProcess.Request(argv: ["/bin/sh", "-c", script])).exit
    }

    func testExitStatusesAndSignalsAreDecoded() throws {
        XCTAssertEqual(try exit(of: "exit 0"), .exited(0))
        XCTAssertEqual(try exit(of: "exit 3"), .exited(3))
        XCTAssertEqual(try exit(of: "kill -KILL $$"), .signaled(SIGKILL, coreDumped: false))
        XCTAssertEqual(try exit(of: "kill -TERM $$"), .signaled(SIGTERM, coreDumped: false))
    }

    func testWaitStatusWordsDecodeAsWaitpidDefinesThem() {
        XCTAssertEqual(ChildExit(waitStatus: 3 << 8), .exited(3))
        XCTAssertEqual(ChildExit(waitStatus: SIGKILL), .signaled(SIGKILL, coreDumped: false))
        XCTAssertEqual(ChildExit(waitStatus: SIGSEGV | 0x80), .signaled(SIGSEGV, coreDumped: true))
        XCTAssertEqual(ChildExit(waitStatus: 0x137F), .unknown, "a stopped child has not ended")
    }

    func testSignalsHaveTheirNames() {
        XCTAssertEqual(ChildExit.signalName(SIGKILL), "SIGKILL")
        XCTAssertEqual(ChildExit.signalName(SIGSEGV), "SIGSEGV")
        XCTAssertEqual(ChildExit.signalName(42), "signal 42")
    }

    func testAChildIsSeenRunningThenExitedAndIsReaped() throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        let child = try SpawnedChild.spawn(["/bin/sh", "-c", "exec sleep 30"], searchPath: false, actions: &actions).get()
        XCTAssertEqual(child.state(), .running, "the child sleeps")
        XCTAssertTrue(child.signalGroup(SIGTERM))
        XCTAssertEqual(child.waitForExit(until: monotonicNanos() + 30_000_000_000), .exited)
        XCTAssertEqual(child.killGroupAndReap(), .signaled(SIGTERM, coreDumped: false))
        XCTAssertEqual(child.state(), .reapedElsewhere, "once reaped, its pid is no longer ours")
    }
}
