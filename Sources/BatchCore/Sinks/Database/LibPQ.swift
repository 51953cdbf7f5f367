import Glibc

/// Debian's libpq (libpq5), loaded with dlopen the first time a
/// postgresql:// sink is configured: hosts that write no PostgreSQL never
/// load it, and libbatchcore.so does not link it.
final class LibPQ: @unchecked Sendable {  // unchecked: function pointers set once in init, never changed
    typealias Conn = OpaquePointer
    typealias Result = OpaquePointer

    let connectdb: @convention(c) (UnsafePointer<CChar>) -> Conn?
    let status: @convention(c) (Conn?) -> Int32
    let errorMessage: @convention(c) (Conn?) -> UnsafePointer<CChar>?
    let finish: @convention(c) (Conn?) -> Void
    let exec: @convention(c) (Conn?, UnsafePointer<CChar>) -> Result?
    let resultStatus: @convention(c) (Result?) -> Int32
    let resultErrorField: @convention(c) (Result?, Int32) -> UnsafePointer<CChar>?
    let resultErrorMessage: @convention(c) (Result?) -> UnsafePointer<CChar>?
    let clear: @convention(c) (Result?) -> Void
    let ntuples: @convention(c) (Result?) -> Int32
    let getvalue: @convention(c) (Result?, Int32, Int32) -> UnsafePointer<CChar>?
    let putCopyData: @convention(c) (Conn?, UnsafePointer<CChar>, Int32) -> Int32
    let putCopyEnd: @convention(c) (Conn?, UnsafePointer<CChar>?) -> Int32
    let getResult: @convention(c) (Conn?) -> Result?

    // libpq-fe.h's values.
    static let connectionOK: Int32 = 0
    static let commandOK: Int32 = 1
    static let tuplesOK: Int32 = 2
    static let copyIn: Int32 = 4
    static let diagSQLState = Int32(UInt8(ascii: "C"))

    private static let loaded = Locked<LibPQ?>(nil)

    /// The library, loaded once per process.
    static func load() throws -> LibPQ {
        try loaded.withLock { cached in
            if let cached { return cached }
            let library = try LibPQ()
            cached = library
            return library
        }
    }

    private init() throws {
        guard let handle = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL) else {
            let reason = dlerror().map { String(cString: $0) } ?? "not found"
            throw BatchCoreError(.notFound, "a postgresql:// sink needs libpq: \(reason); install Debian's libpq5 (apt-get install libpq5)")
        }
        func symbol<T>(_ name: String) throws -> T {
            guard let address = dlsym(handle, name) else {
                throw BatchCoreError(.notFound, "libpq.so.5 lacks \(name): install a newer libpq5")
            }
            return unsafeBitCast(address, to: T.self)
        }
        connectdb = try symbol("PQconnectdb")
        status = try symbol("PQstatus")
        errorMessage = try symbol("PQerrorMessage")
        finish = try symbol("PQfinish")
        exec = try symbol("PQexec")
        resultStatus = try symbol("PQresultStatus")
        resultErrorField = try symbol("PQresultErrorField")
        resultErrorMessage = try symbol("PQresultErrorMessage")
        clear = try symbol("PQclear")
        ntuples = try symbol("PQntuples")
        getvalue = try symbol("PQgetvalue")
        putCopyData = try symbol("PQputCopyData")
        putCopyEnd = try symbol("PQputCopyEnd")
        getResult = try symbol("PQgetResult")
    }
}
