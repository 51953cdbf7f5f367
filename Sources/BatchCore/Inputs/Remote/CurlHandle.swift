import CBatchCore

/// One libcurl easy handle. A handle keeps its connections open between
/// requests, so a worker that takes the same handle again reuses them;
/// `CurlHandlePool` hands them out.
final class CurlHandle {
    let raw: UnsafeMutableRawPointer
    /// The headers of the request being made, freed with the handle or the next request.
    private var headers: UnsafeMutablePointer<curl_slist>? = nil

    /// Loads libcurl on first use (libbatchcore.so does not link it).
    init() throws(BatchCoreError) {
        if let problem = bc_curl_load() {
            throw BatchCoreError(.notFound, String(cString: problem))
        }
        guard let raw = bc_curl_easy_init() else {
            throw BatchCoreError(.io, "libcurl could not make a transfer handle (curl_easy_init)")
        }
        self.raw = raw
    }

    deinit {
        bc_curl_easy_cleanup(raw)
        bc_curl_slist_free_all(headers)
    }

    /// Clears every option of the last request; open connections stay.
    func reset() {
        bc_curl_easy_reset(raw)
        bc_curl_slist_free_all(headers)
        headers = nil
    }

    func set(_ option: CURLoption, _ value: Int) {
        _ = bc_curl_setopt_long(raw, option, value)
    }

    /// libcurl copies the string.
    func set(_ option: CURLoption, _ value: String) {
        _ = value.withCString { bc_curl_setopt_pointer(raw, option, $0) }
    }

    func set(_ option: CURLoption, pointer: UnsafeRawPointer?) {
        _ = bc_curl_setopt_pointer(raw, option, pointer)
    }

    func set(_ option: CURLoption, callback: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int) {
        _ = bc_curl_setopt_write(raw, option, callback)
    }

    /// Calls `callback` as the transfer goes (about once a second, and as
    /// data moves); a non-zero return aborts it.
    func setProgress(_ callback: @convention(c) (UnsafeMutableRawPointer?, curl_off_t, curl_off_t, curl_off_t, curl_off_t) -> Int32) {
        _ = bc_curl_setopt_progress(raw, callback)
    }

    /// Sends these header lines ("Name: value") with the request.
    func setHeaders(_ lines: [String]) {
        for line in lines { headers = bc_curl_slist_append(headers, line) }
        set(CURLOPT_HTTPHEADER, pointer: UnsafeRawPointer(headers))
    }

    /// Runs the request; nil on success, else libcurl's message.
    func perform() -> (code: CURLcode, message: String)? {
        let code = bc_curl_easy_perform(raw)
        guard code != CURLE_OK else { return nil }
        return (code, String(cString: bc_curl_easy_strerror(code)))
    }

    var responseCode: Int {
        var code = 0
        _ = bc_curl_getinfo_long(raw, CURLINFO_RESPONSE_CODE, &code)
        return code
    }
}

/// Handles kept between requests, at most one per thread fetching at once,
/// so each worker's connections are reused.
final class CurlHandlePool: @unchecked Sendable {  // unchecked: handles are reached only under the lock, or by the one caller holding them
    private let idle = Locked([CurlHandle]())

    /// Runs `body` with a handle of the pool (reset), or a new one.
    func with<R>(_ body: (CurlHandle) throws -> R) throws -> R {
        let handle = try idle.withLock { $0.popLast() } ?? CurlHandle()
        defer {
            handle.reset()
            idle.withLock { $0.append(handle) }
        }
        return try body(handle)
    }
}
