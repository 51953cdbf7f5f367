import BatchCore
import CMicroHTTPD
import Glibc

/// An embedded HTTP server (libmicrohttpd): connections are served by
/// `handler` on a pool of four threads.
final class HTTPServer: @unchecked Sendable {  // unchecked: daemon and port are set in init; stop() runs once, from the owner, and waits for the handler threads
    typealias Handler = @Sendable (HTTPRequest) -> HTTPResponse

    private let handler: Handler
    private var daemon: OpaquePointer? = nil
    /// The port it listens on (the one chosen when asked for port 0).
    private(set) var port: UInt16 = 0

    init(handler: @escaping Handler) {
        self.handler = handler
    }

    func start(at address: HTTPAddress) throws {
        var socketAddress = address.socketAddress
        let context = Unmanaged.passUnretained(self).toOpaque()
        guard let daemon = bc_mhd_start(&socketAddress, serveRequest, context, releaseRequest) else {
            throw BatchCoreError(.invalidArgument, "cannot serve http on \(address.host):\(address.port): the port may be in use; choose another with --http")
        }
        self.daemon = daemon
        var bound = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(bc_mhd_listen_fd(daemon), $0, &length) }
        }
        port = UInt16(bigEndian: bound.sin_port)
    }

    /// Stops listening and waits for the server's threads.
    func stop() {
        if let daemon { MHD_stop_daemon(daemon) }
        daemon = nil
    }

    fileprivate func respond(_ connection: OpaquePointer, url: String, method: String, body: RequestBody) -> MHD_Result {
        let header = { (name: String) in MHD_lookup_connection_value(connection, .HEADER_KIND, name).map { String(cString: $0) } }
        let isForm = header("Content-Type")?.lowercased().hasPrefix("application/x-www-form-urlencoded") ?? false
        let request = HTTPRequest(
            method: method, path: url,
            query: { name in MHD_lookup_connection_value(connection, .GET_ARGUMENT_KIND, name).map { String(cString: $0) } },
            header: header,
            form: isForm && !body.tooLarge ? FormFields.parse(body.bytes) : [:])
        let answer = body.tooLarge ? .error(413, "the request body is over \(RequestBody.limit) bytes: actions take a few form fields")
                                   : handler(request)
        let response = answer.body.withUnsafeBytes { bytes in
            MHD_create_response_from_buffer(bytes.count, UnsafeMutableRawPointer(mutating: bytes.baseAddress), .RESPMEM_MUST_COPY)
        }
        guard let response else { return .NO }
        defer { MHD_destroy_response(response) }
        MHD_add_response_header(response, "Content-Type", answer.contentType)
        MHD_add_response_header(response, "Cache-Control", "no-store")
        return MHD_queue_response(connection, UInt32(answer.status), response)
    }
}

/// A request's body, gathered piece by piece; past `limit` bytes it is dropped.
final class RequestBody {
    static let limit = 64 * 1024
    private(set) var bytes: [UInt8] = []
    private(set) var tooLarge = false

    func append(_ data: UnsafePointer<CChar>, count: Int) {
        guard !tooLarge else { return }
        guard bytes.count + count <= Self.limit else {
            tooLarge = true
            bytes = []
            return
        }
        data.withMemoryRebound(to: UInt8.self, capacity: count) { bytes.append(contentsOf: UnsafeBufferPointer(start: $0, count: count)) }
    }
}

/// libmicrohttpd calls this several times per request: first to say a
/// request began (its body is then kept in `state` until `releaseRequest`),
/// then with each piece of its body, then to answer.
private let serveRequest: MHD_AccessHandlerCallback = { context, connection, url, method, _, data, uploadSize, state in
    guard let context, let connection, let url, let method, let uploadSize, let state else { return .NO }
    guard let kept = state.pointee else {
        state.pointee = Unmanaged.passRetained(RequestBody()).toOpaque()
        return .YES
    }
    let body = Unmanaged<RequestBody>.fromOpaque(kept).takeUnretainedValue()
    if uploadSize.pointee > 0 {
        if let data { body.append(data, count: uploadSize.pointee) }
        uploadSize.pointee = 0
        return .YES
    }
    let server = Unmanaged<HTTPServer>.fromOpaque(context).takeUnretainedValue()
    return server.respond(connection, url: String(cString: url), method: String(cString: method), body: body)
}

/// A request ended: its body goes.
private let releaseRequest: MHD_RequestCompletedCallback = { _, _, state, _ in
    guard let state, let kept = state.pointee else { return }
    Unmanaged<RequestBody>.fromOpaque(kept).release()
    state.pointee = nil
}
