import CBatchCore
import Glibc

/// One HTTP request made with a `CurlHandle`, and what came back: the
/// status, the headers of the last response (after redirects), and the
/// body — in memory up to `memoryMax` bytes, then spilled to a private
/// temporary file.
final class Transfer {
    private(set) var headers: [String: String] = [:]
    private(set) var body: [UInt8] = []
    /// The temporary file the body went to once it outgrew memory.
    private(set) var file: (fd: Int32, path: String)? = nil
    /// Why the body could not be kept (the temporary file failed).
    private(set) var spillError: String? = nil
    private let memoryMax: Int
    /// Set by a hard cancel of the batch: the transfer stops.
    private let cancel: CancelFlag?

    init(memoryMax: Int, cancel: CancelFlag? = nil) {
        self.memoryMax = memoryMax
        self.cancel = cancel
    }

    deinit {
        if let file { close(file.fd) }
    }

    /// Makes the request; the handle is set up but for the callbacks.
    /// Returns libcurl's failure, if any (the status is then 0).
    func perform(_ handle: CurlHandle) -> (code: CURLcode, message: String)? {
        let me = Unmanaged.passUnretained(self).toOpaque()
        handle.set(CURLOPT_WRITEFUNCTION, callback: { data, size, count, me in
            Unmanaged<Transfer>.fromOpaque(me!).takeUnretainedValue().received(data!, size * count)
        })
        handle.set(CURLOPT_WRITEDATA, pointer: me)
        handle.set(CURLOPT_HEADERFUNCTION, callback: { data, size, count, me in
            Unmanaged<Transfer>.fromOpaque(me!).takeUnretainedValue().header(data!, size * count)
        })
        handle.set(CURLOPT_HEADERDATA, pointer: me)
        if cancel != nil {
            handle.set(CURLOPT_XFERINFODATA, pointer: me)
            handle.setProgress { me, _, _, _, _ in
                Unmanaged<Transfer>.fromOpaque(me!).takeUnretainedValue().cancel?.isSet == true ? 1 : 0
            }
        }
        return withExtendedLifetime(self) { handle.perform() }
    }

    /// The body as kept: its file (the caller now owns it) or its bytes.
    func takeContent() -> FetchedContent.Storage {
        guard let file else { return .memory(body) }
        close(file.fd)
        self.file = nil
        return .file(file.path)
    }

    private func received(_ data: UnsafeMutablePointer<CChar>, _ count: Int) -> Int {
        let bytes = UnsafeRawBufferPointer(start: data, count: count)
        if file == nil && body.count + count <= memoryMax {
            body.append(contentsOf: bytes)
            return count
        }
        do {
            if file == nil {
                let (fd, path) = try TemporaryFile.create(prefix: "batchcore-fetch")
                file = (fd, path)
                try write(body.withUnsafeBytes { Self.writeAll(fd, $0) }, to: path)
                body = []
            }
            try write(Self.writeAll(file!.fd, bytes), to: file!.path)
            return count
        } catch {
            spillError = error.message
            return 0  // libcurl stops with CURLE_WRITE_ERROR
        }
    }

    private func write(_ err: Int32, to path: String) throws(BatchCoreError) {
        guard err != 0 else { return }
        throw BatchCoreError(.io, "cannot write the fetched document to '\(path)': \(errnoText(err))")
    }

    /// 0, or the errno that stopped the write.
    private static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32 {
        var written = 0
        while written < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + written, bytes.count - written)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return n < 0 ? errno : ENOSPC }
            written += n
        }
        return 0
    }

    private func header(_ data: UnsafeMutablePointer<CChar>, _ count: Int) -> Int {
        let line = String(decoding: UnsafeRawBufferPointer(start: data, count: count), as: UTF8.self)
        if line.hasPrefix("HTTP/") {
            headers = [:]  // a new response (after a redirect or a 100 Continue)
        } else if let colon = line.firstIndex(of: ":") {
            let name = line[..<colon].lowercased()
            headers[name] = String(line[line.index(after: colon)...]).trimmingSpaces
        }
        return count
    }
}
