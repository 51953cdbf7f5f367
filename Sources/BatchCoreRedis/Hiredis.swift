import BatchCore
import CHiredis
import Glibc

/// Debian's hiredis (libhiredis0.14), loaded with dlopen the first time a
/// connection opens: libbatchcore.so carries the Redis client for C and
/// Python hosts, and hosts that never name a Redis server never load it.
/// Only the header's types are compiled in.
struct Hiredis: @unchecked Sendable {  // unchecked: C function pointers, set once
    typealias Context = UnsafeMutablePointer<redisContext>

    let connectWithTimeout: @convention(c) (UnsafePointer<CChar>?, Int32, timeval) -> Context?
    let connectUnixWithTimeout: @convention(c) (UnsafePointer<CChar>?, timeval) -> Context?
    let setTimeout: @convention(c) (Context?, timeval) -> Int32
    let enableKeepAlive: @convention(c) (Context?) -> Int32
    let free: @convention(c) (Context?) -> Void
    let commandArgv: @convention(c) (Context?, Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int>?) -> UnsafeMutableRawPointer?
    let appendCommandArgv: @convention(c) (Context?, Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int>?) -> Int32
    let getReply: @convention(c) (Context?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Int32
    let freeReplyObject: @convention(c) (UnsafeMutableRawPointer?) -> Void

    private static let loaded = Locked<Hiredis?>(nil)
    static let libraryNames = ["libhiredis.so.0.14", "libhiredis.so"]

    /// The library, loaded once per process.
    static func load() throws -> Hiredis {
        try loaded.withLock { cached in
            if let cached { return cached }
            let library = try Hiredis(handle: open())
            cached = library
            return library
        }
    }

    private static func open() throws -> UnsafeMutableRawPointer {
        var reasons: [String] = []
        for name in libraryNames {
            if let handle = dlopen(name, RTLD_NOW | RTLD_LOCAL) { return handle }
            reasons.append(dlerror().map { String(cString: $0) } ?? "\(name) not found")
        }
        throw RedisError(.connect, "Redis needs hiredis: \(reasons.joined(separator: "; ")); install Debian's libhiredis0.14 (apt-get install libhiredis0.14)")
    }

    private init(handle: UnsafeMutableRawPointer) throws {
        func symbol<T>(_ name: String) throws -> T {
            guard let address = dlsym(handle, name) else {
                throw RedisError(.connect, "the hiredis library lacks \(name): install Debian's libhiredis0.14")
            }
            return unsafeBitCast(address, to: T.self)
        }
        connectWithTimeout = try symbol("redisConnectWithTimeout")
        connectUnixWithTimeout = try symbol("redisConnectUnixWithTimeout")
        setTimeout = try symbol("redisSetTimeout")
        enableKeepAlive = try symbol("redisEnableKeepAlive")
        free = try symbol("redisFree")
        commandArgv = try symbol("redisCommandArgv")
        appendCommandArgv = try symbol("redisAppendCommandArgv")
        getReply = try symbol("redisGetReply")
        freeReplyObject = try symbol("freeReplyObject")
    }
}
