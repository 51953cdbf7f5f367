/// A strict JSON (RFC 8259) reader over bytes, made for manifests: it checks
/// a value, decodes the few strings a source needs ("path", "id") and copies
/// others in compact form (insignificant whitespace removed; key order, number
/// spelling and string escapes kept exactly as written). It allocates nothing
/// per value, so validating a million-line manifest costs a few hundred
/// nanoseconds a line.
///
/// Strings must be valid UTF-8; how decoded strings treat unpaired
/// surrogate escapes is said by `StringDecoding`. Nesting deeper than `maxDepth` is refused.
struct JSONScanner {
    /// Where and why the text is not valid JSON.
    struct Failure: Error {
        /// Byte offset into the scanned buffer.
        let offset: Int
        /// What was wrong, e.g. "expected ':' after an object key".
        let reason: String
    }

    static let maxDepth = 512

    let bytes: UnsafeBufferPointer<UInt8>
    var pos: Int

    init(_ bytes: UnsafeBufferPointer<UInt8>, at pos: Int = 0) {
        self.bytes = bytes
        self.pos = pos
    }

    var atEnd: Bool { pos >= bytes.count }

    /// The byte at the cursor, or nil at the end.
    var current: UInt8? { pos < bytes.count ? bytes[pos] : nil }

    mutating func skipWhitespace() {
        while pos < bytes.count {
            switch bytes[pos] {
            case 0x20, 0x09, 0x0A, 0x0D: pos += 1
            default: return
            }
        }
    }

    /// After an element of an object or array: a ',' (more follow; false)
    /// or the `closing` bracket (the container ends; true), copied when
    /// `emit`; anything else is an error.
    private mutating func scanSeparator(closing: Unicode.Scalar, after what: String, emit: Bool,
                                        into out: inout [UInt8]) throws(Failure) -> Bool {
        skipWhitespace()
        switch current {
        case UInt8(ascii: ","):
            pos += 1
            if emit { out.append(UInt8(ascii: ",")) }
            skipWhitespace()
            return false
        case UInt8(ascii: closing):
            pos += 1
            if emit { out.append(UInt8(ascii: closing)) }
            return true
        default:
            throw fail("expected ',' or '\(closing)' after \(what)")
        }
    }

    /// Skips a UTF-8 byte order mark at the cursor.
    mutating func skipByteOrderMark() {
        if pos + 2 < bytes.count && bytes[pos] == 0xEF && bytes[pos + 1] == 0xBB && bytes[pos + 2] == 0xBF {
            pos += 3
        }
    }

    func fail(_ reason: String, at offset: Int? = nil) -> Failure {
        Failure(offset: offset ?? pos, reason: reason)
    }

    /// What kind of value starts at the cursor, for messages ("an array", "null").
    var kindAtCursor: String {
        guard let b = current else { return "the end of the input" }
        switch b {
        case UInt8(ascii: "{"): return "an object"
        case UInt8(ascii: "["): return "an array"
        case UInt8(ascii: "\""): return "a string"
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return "a boolean"
        case UInt8(ascii: "n"): return "null"
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return "a number"
        default: return "not JSON"
        }
    }

    // MARK: Strings

    /// What `scanString` does with a string's content besides checking it.
    enum StringDecoding {
        /// Nothing: the string is kept as written (an unpaired surrogate
        /// escape is accepted, as JSON's grammar allows it).
        case none
        /// Decodes an object key; an unpaired surrogate escape becomes
        /// U+FFFD, so such a key matches no known name and is skipped.
        case key
        /// Decodes a file name or id: `\udc80`...`\udcff` stand alone for the
        /// bytes 0x80...0xFF of a name that is not UTF-8 (Python's
        /// surrogateescape); other unpaired surrogates are refused.
        case fileName
    }

    /// Scans the string at the cursor (which must be '"'), appending its
    /// decoded bytes to `out` unless `decoding` is `.none`.
    mutating func scanString(_ decoding: StringDecoding, into out: inout [UInt8]) throws(Failure) {
        let decode = decoding != .none
        let start = pos
        pos += 1  // opening quote
        var run = pos  // start of the bytes not yet copied to `out`
        while true {
            guard pos < bytes.count else { throw fail("unterminated string (missing closing '\"')", at: start) }
            let b = bytes[pos]
            if b == UInt8(ascii: "\"") {
                if decode { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run..<pos])) }
                pos += 1
                return
            } else if b == UInt8(ascii: "\\") {
                if decode { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run..<pos])) }
                try scanEscape(decoding, into: &out)
                run = pos
            } else if b < 0x20 {
                throw fail("control character in a string; write it as an escape such as \\n or \\u00\(hexByte(b))")
            } else if b < 0x80 {
                pos += 1
            } else if let length = utf8SequenceLength(bytes, at: pos) {
                pos += length
            } else if (0xC2...0xF4).contains(b) {
                throw fail("invalid UTF-8 sequence in a string; the file must be UTF-8")
            } else {
                throw fail("invalid UTF-8 byte 0x\(hexByte(b)) in a string; the file must be UTF-8")
            }
        }
    }

    private mutating func scanEscape(_ decoding: StringDecoding, into out: inout [UInt8]) throws(Failure) {
        let decode = decoding != .none
        let start = pos
        guard pos + 1 < bytes.count else { throw fail("unterminated string (missing closing '\"')") }
        let e = bytes[pos + 1]
        pos += 2
        let simple: UInt8
        switch e {
        case UInt8(ascii: "\""): simple = 0x22
        case UInt8(ascii: "\\"): simple = 0x5C
        case UInt8(ascii: "/"): simple = 0x2F
        case UInt8(ascii: "b"): simple = 0x08
        case UInt8(ascii: "f"): simple = 0x0C
        case UInt8(ascii: "n"): simple = 0x0A
        case UInt8(ascii: "r"): simple = 0x0D
        case UInt8(ascii: "t"): simple = 0x09
        case UInt8(ascii: "u"):
            var scalar = try hex4(escapeStart: start)
            if (0xD800...0xDBFF).contains(scalar),
               pos + 1 < bytes.count && bytes[pos] == UInt8(ascii: "\\") && bytes[pos + 1] == UInt8(ascii: "u") {
                // A high and a low surrogate make one scalar; otherwise the
                // next escape is read on its own.
                let save = pos
                pos += 2
                let low = try hex4(escapeStart: save)
                if (0xDC00...0xDFFF).contains(low) {
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else {
                    pos = save
                }
            }
            if (0xD800...0xDFFF).contains(scalar) {
                try appendUnpairedSurrogate(scalar, decoding, escapeStart: start, to: &out)
            } else if decode {
                appendUTF8(scalar, to: &out)
            }
            return
        default:
            throw fail("invalid escape '\\\(Character(Unicode.Scalar(e)))' in a string; valid escapes are \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX", at: start)
        }
        if decode { out.append(simple) }
    }

    private func appendUnpairedSurrogate(_ scalar: UInt32, _ decoding: StringDecoding, escapeStart: Int,
                                         to out: inout [UInt8]) throws(Failure) {
        switch decoding {
        case .none:
            return
        case .key:
            appendUTF8(0xFFFD, to: &out)
        case .fileName:
            guard (0xDC80...0xDCFF).contains(scalar) else {
                throw fail("unpaired UTF-16 surrogate in a \\u escape (only \\udc80 to \\udcff may stand alone: "
                    + "they are the bytes 0x80 to 0xFF of a file name that is not UTF-8)", at: escapeStart)
            }
            out.append(UInt8(scalar - 0xDC00))
        }
    }

    private mutating func hex4(escapeStart: Int) throws(Failure) -> UInt32 {
        guard pos + 4 <= bytes.count else { throw fail("incomplete \\u escape; expected 4 hex digits", at: escapeStart) }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[pos]
            let digit: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = b - UInt8(ascii: "A") + 10
            default: throw fail("invalid \\u escape; expected 4 hex digits", at: escapeStart)
            }
            value = value << 4 | UInt32(digit)
            pos += 1
        }
        return value
    }

    private func appendUTF8(_ scalar: UInt32, to out: inout [UInt8]) {
        switch scalar {
        case 0..<0x80:
            out.append(UInt8(scalar))
        case 0x80..<0x800:
            out.append(UInt8(0xC0 | scalar >> 6))
            out.append(UInt8(0x80 | scalar & 0x3F))
        case 0x800..<0x10000:
            out.append(UInt8(0xE0 | scalar >> 12))
            out.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            out.append(UInt8(0x80 | scalar & 0x3F))
        default:
            out.append(UInt8(0xF0 | scalar >> 18))
            out.append(UInt8(0x80 | scalar >> 12 & 0x3F))
            out.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            out.append(UInt8(0x80 | scalar & 0x3F))
        }
    }

    // MARK: Values

    /// Steps over the opening bracket of an object or array at the cursor;
    /// false when the container is empty (its closing bracket is passed too).
    private mutating func open(_ opening: Unicode.Scalar, closing: Unicode.Scalar, depth: Int,
                               emit: Bool, into out: inout [UInt8]) throws(Failure) -> Bool {
        guard depth < Self.maxDepth else { throw fail("nested deeper than \(Self.maxDepth) levels") }
        pos += 1
        if emit { out.append(UInt8(ascii: opening)) }
        skipWhitespace()
        guard current == UInt8(ascii: closing) else { return true }
        pos += 1
        if emit { out.append(UInt8(ascii: closing)) }
        return false
    }

    /// Scans any value at the cursor. When `emit` is set, appends its compact
    /// text to `out`.
    mutating func scanValue(emit: Bool, into out: inout [UInt8], depth: Int = 0) throws(Failure) {
        guard pos < bytes.count else { throw fail("unexpected end of input; expected a value") }
        let start = pos
        switch bytes[pos] {
        case UInt8(ascii: "{"):
            guard try open("{", closing: "}", depth: depth, emit: emit, into: &out) else { return }
            while true {
                guard current == UInt8(ascii: "\"") else { throw fail("expected a string key in double quotes") }
                let keyStart = pos
                try scanString(.none, into: &out)
                if emit { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[keyStart..<pos])) }
                skipWhitespace()
                guard current == UInt8(ascii: ":") else { throw fail("expected ':' after an object key") }
                pos += 1
                if emit { out.append(UInt8(ascii: ":")) }
                skipWhitespace()
                try scanValue(emit: emit, into: &out, depth: depth + 1)
                if try scanSeparator(closing: "}", after: "an object member", emit: emit, into: &out) { return }
            }
        case UInt8(ascii: "["):
            guard try open("[", closing: "]", depth: depth, emit: emit, into: &out) else { return }
            while true {
                try scanValue(emit: emit, into: &out, depth: depth + 1)
                if try scanSeparator(closing: "]", after: "an array element", emit: emit, into: &out) { return }
            }
        case UInt8(ascii: "\""):
            try scanString(.none, into: &out)
        case UInt8(ascii: "t"):
            try literal("true")
        case UInt8(ascii: "f"):
            try literal("false")
        case UInt8(ascii: "n"):
            try literal("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            try scanNumber()
        default:
            throw fail("expected a value (object, array, string, number, true, false or null)")
        }
        if emit { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<pos])) }
    }

    private mutating func literal(_ word: StaticString) throws(Failure) {
        let n = word.utf8CodeUnitCount
        let w = word.utf8Start
        guard pos + n <= bytes.count else { throw fail("expected a value (object, array, string, number, true, false or null)") }
        for k in 0..<n where bytes[pos + k] != w[k] {
            throw fail("expected a value (object, array, string, number, true, false or null)")
        }
        pos += n
    }

    private mutating func scanNumber() throws(Failure) {
        let start = pos
        if current == UInt8(ascii: "-") { pos += 1 }
        guard let first = current, isDigit(first) else { throw fail("invalid number", at: start) }
        pos += 1
        if first != UInt8(ascii: "0") { skipDigits() }
        if current == UInt8(ascii: ".") {
            pos += 1
            guard let d = current, isDigit(d) else { throw fail("invalid number: expected a digit after '.'", at: start) }
            skipDigits()
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            pos += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { pos += 1 }
            guard let d = current, isDigit(d) else { throw fail("invalid number: expected a digit in the exponent", at: start) }
            skipDigits()
        }
    }

    private mutating func skipDigits() {
        while pos < bytes.count && isDigit(bytes[pos]) { pos += 1 }
    }

    private func isDigit(_ b: UInt8) -> Bool { b &- UInt8(ascii: "0") < 10 }

    private func hexByte(_ b: UInt8) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        return String(decoding: [digits[Int(b >> 4)], digits[Int(b & 15)]], as: UTF8.self)
    }
}

extension JSONScanner {
    /// True when `bytes` are exactly one JSON value, with whitespace around
    /// it allowed: how a processor's JSON output is checked, without
    /// building the value.
    static func isValid(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var scanner = JSONScanner(bytes)
        var ignored: [UInt8] = []
        scanner.skipWhitespace()
        guard (try? scanner.scanValue(emit: false, into: &ignored)) != nil else { return false }
        scanner.skipWhitespace()
        return scanner.atEnd
    }

    /// Checks that `text` is exactly one JSON object (whitespace around it is
    /// allowed) and returns its compact form. `what` names the text in
    /// messages ("metadata for 'a.pdf'"). Throws `.input`.
    static func compactObject(_ text: String, what: String) throws -> String {
        let utf8 = Array(text.utf8)
        return try utf8.withUnsafeBufferPointer { buf -> String in
            var scanner = JSONScanner(buf)
            var out: [UInt8] = []
            let hint = "expected a JSON object such as {\"lang\": \"en\"}"
            do {
                scanner.skipWhitespace()
                guard scanner.current == UInt8(ascii: "{") else {
                    if scanner.atEnd { throw BatchCoreError(.input, "\(what) is empty; \(hint)") }
                    var probe = scanner
                    var ignored: [UInt8] = []
                    if (try? probe.scanValue(emit: false, into: &ignored)) != nil {
                        throw BatchCoreError(.input, "\(what) must be a JSON object, not \(scanner.kindAtCursor); \(hint)")
                    }
                    try scanner.scanValue(emit: false, into: &ignored)  // throws the syntax error
                    preconditionFailure("unreachable")
                }
                try scanner.scanValue(emit: true, into: &out)
                scanner.skipWhitespace()
                guard scanner.atEnd else { throw scanner.fail("unexpected text after the object") }
            } catch let failure as JSONScanner.Failure {
                throw BatchCoreError(.input, "\(what) is not valid JSON at byte \(failure.offset + 1): \(failure.reason); \(hint)")
            }
            return String(decoding: out, as: UTF8.self)
        }
    }
}
