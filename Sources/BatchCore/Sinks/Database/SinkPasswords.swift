/// Finds the passwords of PostgreSQL URLs in any text (a command line, an
/// option's value, a message), so that nothing shows them: a password is
/// `user:SECRET@host` or a `password=SECRET` parameter.
public enum SinkPasswords {
    /// `text` with every PostgreSQL URL's password left out (`user@host`,
    /// no `password=` parameter): libpq finds it in PGPASSWORD or ~/.pgpass.
    public static func hidden(in text: String) -> String {
        rewritingURLs(in: text) { withoutPassword($0).url }
    }

    /// The passwords the PostgreSQL URLs in `text` hold, as written.
    public static func passwords(in text: String) -> [String] {
        var found: [String] = []
        _ = rewritingURLs(in: text) { url in
            let split = withoutPassword(url)
            found += split.passwords
            return split.url
        }
        return found
    }

    /// A PostgreSQL URL without its password, and the password(s) it held.
    static func withoutPassword(_ url: String) -> (url: String, passwords: [String]) {
        guard let schemeEnd = url.range(of: "://") else { return (url, []) }
        let rest = url[schemeEnd.upperBound...]
        let (location, query) = rest.firstIndex(of: "?").map { (rest[..<$0], String(rest[$0...])) } ?? (rest, "")
        var passwords: [String] = []
        var shownLocation = String(location)
        if let at = location.lastIndex(of: "@"), let colon = location[..<at].firstIndex(of: ":") {
            passwords.append(String(location[location.index(after: colon)..<at]))
            shownLocation = String(location[..<colon] + location[at...])
        }
        var pairs: [Substring] = []
        for pair in query.dropFirst().split(separator: "&", omittingEmptySubsequences: false) {
            if pair.lowercased().hasPrefix("password=") {
                passwords.append(String(pair.dropFirst("password=".count)))
            } else {
                pairs.append(pair)
            }
        }
        let shownQuery = query.isEmpty ? "" : "?" + pairs.joined(separator: "&")
        return (String(url[..<schemeEnd.upperBound]) + shownLocation + shownQuery, passwords.filter { !$0.isEmpty })
    }

    /// `text` with each PostgreSQL URL (from `postgres://` or
    /// `postgresql://` to a space or a quote) replaced by `rewrite(url)`.
    private static func rewritingURLs(in text: String, _ rewrite: (String) -> String) -> String {
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            guard let schemeLength = schemeLength(bytes, at: i) else {
                out.append(bytes[i])
                i += 1
                continue
            }
            var end = i + schemeLength
            while end < bytes.count, !ends.contains(bytes[end]) { end += 1 }
            out += Array(rewrite(String(decoding: bytes[i..<end], as: UTF8.self)).utf8)
            i = end
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let schemes = ["postgresql://", "postgres://"].map { Array($0.utf8) }
    private static let ends = Set(" \t\r\n'\"`".utf8)

    /// The length of a PostgreSQL scheme (any case) starting at `i`, if one does.
    private static func schemeLength(_ bytes: [UInt8], at i: Int) -> Int? {
        schemes.first { scheme in
            i + scheme.count <= bytes.count
                && zip(scheme, bytes[i..<(i + scheme.count)]).allSatisfy { $0 == ($1 | 0x20) || $0 == $1 }
        }?.count
    }
}
