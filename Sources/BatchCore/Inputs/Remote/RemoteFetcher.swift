import CBatchCore
import Glibc

/// Fetches remote documents (http://, https://, s3://) with libcurl, one
/// request at a time per calling thread, reusing connections through a
/// pool of handles. Says what a failure means for the document: retry it
/// (a 5xx, a 429 or 408 with its Retry-After, a lost connection, a
/// timeout) or fail it (any other status, such as 404 or 403).
final class RemoteFetcher: Sendable {
    enum Failure: Error {
        case retry(String, retryAfterMs: UInt64?)
        case fail(String)

        var message: String {
            switch self {
            case .retry(let message, _), .fail(let message): message
            }
        }
    }

    private let pool = CurlHandlePool()
    let s3: S3Access
    private let memoryMax: Int
    private let timeout: Double

    init(memoryMax: Int, timeout: Double, s3: S3Access = .fromEnvironment()) {
        self.memoryMax = memoryMax
        self.timeout = timeout
        self.s3 = s3
    }

    /// The document's bytes, with the source's version; `cancel` (a hard
    /// cancel of the batch) stops the transfer.
    func fetch(_ location: RemoteLocation, cancel: CancelFlag? = nil) throws(Failure) -> FetchedContent {
        if location.isPrefix {
            throw .fail("'\(location.display)' is an S3 prefix (it ends in '/'), not a document: give it as an input of its own to process every document under it")
        }
        let transfer = try request(location, head: false, memoryMax: memoryMax, cancel: cancel)
        return FetchedContent(transfer.takeContent(), version: Self.version(transfer.headers))
    }

    /// The source's current version (a HEAD request): its ETag, else its
    /// Last-Modified; nil when it says neither.
    func version(of location: RemoteLocation) throws(Failure) -> String? {
        Self.version(try request(location, head: true, memoryMax: 0).headers)
    }

    /// The whole body of a small response (an S3 listing page).
    func body(of url: String, display: String) throws(Failure) -> [UInt8] {
        let transfer = try request(url: url, display: display, signed: true, head: false, memoryMax: Int.max)
        guard case .memory(let bytes) = transfer.takeContent() else { return [] }
        return bytes
    }

    private func request(_ location: RemoteLocation, head: Bool, memoryMax: Int,
                         cancel: CancelFlag? = nil) throws(Failure) -> Transfer {
        switch location {
        case .http(let url):
            try request(url: url, display: location.display, signed: false, head: head, memoryMax: memoryMax, cancel: cancel)
        case .s3(let bucket, let key):
            try request(url: s3.url(bucket: bucket, key: key), display: location.display, signed: true,
                        head: head, memoryMax: memoryMax, cancel: cancel)
        }
    }

    private func request(url: String, display: String, signed: Bool, head: Bool, memoryMax: Int,
                         cancel: CancelFlag? = nil) throws(Failure) -> Transfer {
        let transfer = Transfer(memoryMax: memoryMax, cancel: cancel)
        let outcome: (failure: (code: CURLcode, message: String)?, status: Int)
        do {
            outcome = try pool.with { handle in
                configure(handle, url: url, signed: signed, head: head)
                let failure = transfer.perform(handle)
                return (failure, handle.responseCode)
            }
        } catch {
            throw .fail((error as? BatchCoreError)?.message ?? "\(error)")
        }
        if let failure = outcome.failure {
            throw transferFailure(failure, transfer: transfer, display: display)
        }
        guard (200..<300).contains(outcome.status) else {
            throw Self.statusFailure(outcome.status, transfer: transfer, display: display)
        }
        return transfer
    }

    private func configure(_ handle: CurlHandle, url: String, signed: Bool, head: Bool) {
        handle.set(CURLOPT_URL, url)
        handle.set(CURLOPT_PROTOCOLS_STR, "http,https")
        handle.set(CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
        handle.set(CURLOPT_FOLLOWLOCATION, 1)
        handle.set(CURLOPT_MAXREDIRS, 10)
        handle.set(CURLOPT_NOSIGNAL, 1)  // worker threads: no SIGALRM for DNS timeouts
        handle.set(CURLOPT_TIMEOUT_MS, Int(timeout * 1000))
        handle.set(CURLOPT_USERAGENT, "batchcore/\(batchcoreVersion)")
        if head { handle.set(CURLOPT_NOBODY, 1) }
        handle.setHeaders(signed ? s3.sign(handle) : [])
    }

    private func transferFailure(_ failure: (code: CURLcode, message: String), transfer: Transfer, display: String) -> Failure {
        if let spillError = transfer.spillError { return .fail("fetching '\(display)': \(spillError)") }
        if failure.code == CURLE_ABORTED_BY_CALLBACK {
            return .retry("fetching '\(display)' was stopped: the batch was cancelled", retryAfterMs: nil)
        }
        if failure.code == CURLE_OPERATION_TIMEDOUT {
            return .retry("fetching '\(display)' \(CallContext.timeoutMessage(timeout)) (fetch.timeout)", retryAfterMs: nil)
        }
        let transient: Set<UInt32> = [
            CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_CONNECT, CURLE_GOT_NOTHING, CURLE_SEND_ERROR,
            CURLE_RECV_ERROR, CURLE_PARTIAL_FILE, CURLE_SSL_CONNECT_ERROR, CURLE_HTTP2, CURLE_HTTP2_STREAM,
        ].reduce(into: []) { $0.insert($1.rawValue) }
        let message = "fetching '\(display)' failed: \(failure.message)"
        return transient.contains(failure.code.rawValue) ? .retry(message, retryAfterMs: nil) : .fail(message)
    }

    private static func statusFailure(_ status: Int, transfer: Transfer, display: String) -> Failure {
        let code = S3Listing.errorCode(transfer.body).map { " (\($0))" } ?? ""
        let message = "fetching '\(display)' failed: HTTP \(status)\(code)"
        switch status {
        case 408, 429, 500...599:
            return .retry(message, retryAfterMs: transfer.headers["retry-after"].flatMap { retryAfterMilliseconds($0) })
        case 401, 403:
            return .fail(message + ": access denied; check the URL, or the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) for s3://")
        case 404:
            return .fail(message + ": not found; check the URL")
        default:
            return .fail(message)
        }
    }

    private static func version(_ headers: [String: String]) -> String? {
        headers["etag"] ?? headers["last-modified"]
    }
}
