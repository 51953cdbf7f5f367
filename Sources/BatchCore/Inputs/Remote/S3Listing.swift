/// The parts of S3's XML answers a listing reads (ListObjectsV2 pages and
/// error bodies). S3's answers are flat and machine-written, so reading
/// the few elements needed by name, and decoding XML's character
/// references, is all the XML this takes.
struct S3Listing {
    /// Keys of the page, in the listing's order.
    var keys: [String] = []
    /// Where the next page starts; nil on the last page.
    var continuationToken: String? = nil

    init(page: [UInt8]) {
        keys = Self.texts(of: "Key", in: page)
        if Self.texts(of: "IsTruncated", in: page).first == "true" {
            continuationToken = Self.texts(of: "NextContinuationToken", in: page).first
        }
    }

    /// The `Code` of an S3 error body ("NoSuchKey", "AccessDenied"), if it is one.
    static func errorCode(_ body: [UInt8]) -> String? {
        guard body.starts(with: Array("<?xml".utf8)) || body.starts(with: Array("<Error>".utf8)) else { return nil }
        return texts(of: "Code", in: body).first
    }

    /// The text of every `<name>…</name>` element, decoded, in order.
    static func texts(of name: String, in xml: [UInt8]) -> [String] {
        let open = Array("<\(name)>".utf8), close = Array("</\(name)>".utf8)
        var found: [String] = []
        var at = 0
        while let start = xml.range(of: open, from: at), let end = xml.range(of: close, from: start.upperBound) {
            found.append(decode(xml[start.upperBound..<end.lowerBound]))
            at = end.upperBound
        }
        return found
    }

    /// XML text to a string: &amp; &lt; &gt; &quot; &apos; and &#N; / &#xN;.
    static func decode(_ text: ArraySlice<UInt8>) -> String {
        let raw = String(decoding: text, as: UTF8.self)
        guard raw.contains("&") else { return raw }
        var out = ""
        var rest = Substring(raw)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            guard let semi = rest[amp...].firstIndex(of: ";") else { break }
            let entity = rest[rest.index(after: amp)..<semi]
            out += entityText(entity) ?? String(rest[amp...semi])
            rest = rest[rest.index(after: semi)...]
        }
        return out + rest
    }

    private static func entityText(_ entity: Substring) -> String? {
        switch entity {
        case "amp": return "&"
        case "lt": return "<"
        case "gt": return ">"
        case "quot": return "\""
        case "apos": return "'"
        default:
            guard entity.hasPrefix("#") else { return nil }
            let digits = entity.dropFirst()
            let value = digits.hasPrefix("x") ? UInt32(digits.dropFirst(), radix: 16) : UInt32(digits)
            return value.flatMap(Unicode.Scalar.init).map { String(Character($0)) }
        }
    }
}

extension Array where Element == UInt8 {
    /// The first occurrence of `pattern` at or after `from`.
    func range(of pattern: [UInt8], from: Int) -> Range<Int>? {
        guard pattern.count <= count else { return nil }
        var i = from
        while i + pattern.count <= count {
            if self[i] == pattern[0] && self[i..<i + pattern.count].elementsEqual(pattern) { return i..<i + pattern.count }
            i += 1
        }
        return nil
    }
}
