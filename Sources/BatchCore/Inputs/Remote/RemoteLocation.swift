/// Where a remote document lives: an `http://` or `https://` URL, fetched
/// as written, or `s3://bucket/key` in S3 or an S3-compatible store.
/// Any path that does not start with one of these schemes is a local file.
enum RemoteLocation: Equatable, Sendable {
    case http(String)
    case s3(bucket: String, key: String)

    /// nil for a local path (or no path).
    init?(_ path: String?) {
        guard let path else { return nil }
        if path.hasPrefix("http://") || path.hasPrefix("https://") {
            self = .http(path)
        } else if path.hasPrefix("s3://") {
            let rest = path.dropFirst("s3://".count)
            let bucket = rest.prefix { $0 != "/" }
            self = .s3(bucket: String(bucket), key: String(rest.dropFirst(bucket.count + 1)))
        } else {
            return nil
        }
    }

    static func isRemote(_ path: String) -> Bool { RemoteLocation(path) != nil }

    /// An `s3://bucket/prefix/` (or a bucket alone): many documents, listed.
    var isPrefix: Bool {
        guard case .s3(_, let key) = self else { return false }
        return key.isEmpty || key.hasSuffix("/")
    }

    /// The location for messages: no password, no query values (a
    /// presigned URL's signature, an API key), nothing secret.
    var display: String {
        switch self {
        case .http(let url): Self.masked(url)
        case .s3(let bucket, let key): "s3://\(bucket)/\(key)"
        }
    }

    /// "https://user:pw@host/p?sig=abc" -> "https://***@host/p?sig=***".
    static func masked(_ url: String) -> String {
        var text = Substring(url)
        let scheme = text.prefix { $0 != ":" }
        text = text.dropFirst(scheme.count + 3)  // "://"
        let authority = text.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        var host = authority
        if let at = authority.lastIndex(of: "@") { host = "***@" + authority[authority.index(after: at)...] }
        let rest = text.dropFirst(authority.count).prefix { $0 != "#" }
        let path = rest.prefix { $0 != "?" }
        var out = "\(scheme)://\(host)\(path)"
        guard rest.count > path.count else { return out }
        let fields = rest.dropFirst(path.count + 1).split(separator: "&", omittingEmptySubsequences: false)
        out += "?" + fields.map { field in
            guard let eq = field.firstIndex(of: "=") else { return String(field) }
            return field[..<eq] + "=***"
        }.joined(separator: "&")
        return out
    }
}

/// Percent-encoding of URL parts (RFC 3986): every byte but the unreserved
/// characters, and "/" too unless `keepSlash`. This is also the encoding
/// AWS Signature Version 4 expects in a canonical request, so S3 keys with
/// spaces, "+", "%" or any UTF-8 sign correctly.
func percentEncoded(_ text: String, keepSlash: Bool) -> String {
    let hex = Array("0123456789ABCDEF".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(text.utf8.count)
    for byte in FileNameBytes.bytes(text) {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
             UInt8(ascii: "_"), UInt8(ascii: "~"):
            out.append(byte)
        case UInt8(ascii: "/") where keepSlash:
            out.append(byte)
        default:
            out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 15)]]
        }
    }
    return String(decoding: out, as: UTF8.self)
}
