@testable import BatchCoreRedis
import Foundation
import Glibc
import Synchronization
import XCTest

/// A redis-server of the test's own, on a free loopback port, with its data in a
/// temporary directory. `stop()` ends it with SIGTERM (which flushes the AOF) and
/// `start()` brings it back on the same port and directory. It may be handed to
/// another thread, used by one at a time.
final class RedisServer: @unchecked Sendable {
    struct Settings {
        var appendOnly = false
        /// Extra configuration, as `--name value` pairs on the command line.
        var extra: [String] = []
    }

    static let executable = "/usr/bin/redis-server"

    let settings: Settings
    let directory: URL
    private(set) var port: Int
    private var process: Process?

    init(_ settings: Settings = Settings()) throws {
        self.settings = settings
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("redis-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        port = 0
        try startOnAFreePort()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    var url: RedisURL { RedisURL(endpoint: .tcp(host: "127.0.0.1", port: port)) }
    var socketPath: String { directory.appendingPathComponent("redis.sock").path }

    /// A connection to this server, with the given options.
    func connect(_ options: RedisConnection.Options = RedisConnection.Options()) throws -> RedisConnection {
        try RedisConnection(url, options: options)
    }

    /// Another process may take the port between choosing it and binding it: try another.
    private func startOnAFreePort() throws {
        var lastError: Error?
        for _ in 0..<5 {
            port = try Self.freePort()
            do { return try start() } catch { lastError = error }
        }
        throw lastError!
    }

    /// Starts the server and waits until it answers PING (after loading its AOF),
    /// or only until it has started when `untilReady` is false.
    func start(untilReady: Bool = true) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.executable) else {
            throw RedisServerError(message: "\(Self.executable) is missing: install Debian's redis-server (scripts/install-deps does, as root)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.arguments = [
            "--port", "\(port)", "--bind", "127.0.0.1", "--dir", directory.path, "--save", "",
            "--appendonly", settings.appendOnly ? "yes" : "no", "--daemonize", "no",
            "--unixsocket", socketPath, "--unixsocketperm", "700",
            "--logfile", directory.appendingPathComponent("redis.log").path,
        ] + settings.extra
        try process.run()
        self.process = process
        guard untilReady else { return }
        let deadline = Date().addingTimeInterval(20)
        while !answersPing() {
            guard process.isRunning else {
                self.process = nil
                throw RedisServerError(message: "redis-server exited at start:\n\(log)")
            }
            guard Date() < deadline else {
                stop()
                throw RedisServerError(message: "redis-server did not answer PING within 20 s:\n\(log)")
            }
            usleep(10_000)
        }
    }

    func stop() {
        guard let process else { return }
        process.terminate()
        process.waitUntilExit()
        self.process = nil
    }

    var log: String {
        (try? String(contentsOf: directory.appendingPathComponent("redis.log"), encoding: .utf8)) ?? "(no log)"
    }

    /// True once the server answers PING (or NOAUTH, when it wants a password).
    private func answersPing() -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = Self.loopback(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0, write(fd, "PING\r\n", 6) == 6 else { return false }
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = read(fd, &buffer, buffer.count)
        guard count > 0 else { return false }
        let answer = String(decoding: buffer[..<count], as: UTF8.self)
        return answer.hasPrefix("+PONG") || answer.hasPrefix("-NOAUTH")
    }

    /// A port nothing listens on now: bind to port 0, read what the kernel chose, close.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else { throw RedisServerError(message: "cannot find a free port: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        return address
    }
}

struct RedisServerError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// Runs `body` on `count` threads at once, each with its index, waits for all,
/// and fails the test with each error a thread threw.
func onThreads(_ count: Int, file: StaticString = #filePath, line: UInt = #line, _ body: @escaping @Sendable (Int) throws -> Void) {
    let done = DispatchGroup()
    let errors = Mutex<[Error]>([])
    for index in 0..<count {
        done.enter()
        Thread {
            do { try body(index) } catch { errors.withLock { $0.append(error) } }
            done.leave()
        }.start()
    }
    done.wait()
    for error in errors.withLock({ $0 }) { XCTFail("a thread failed: \(error)", file: file, line: line) }
}

/// Polls `condition` until it holds, failing after a generous timeout.
func waitUntil(timeout: Duration = .seconds(20), file: StaticString = #filePath, line: UInt = #line, _ condition: () throws -> Bool) throws {
    let deadline = ContinuousClock.now + timeout
    while try !condition() {
        guard ContinuousClock.now < deadline else {
            XCTFail("condition not met within \(timeout)", file: file, line: line)
            return
        }
        usleep(10_000)
    }
}
