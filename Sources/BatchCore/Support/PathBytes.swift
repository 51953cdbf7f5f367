import Glibc

// Paths are bytes on POSIX. Two consequences, handled here:
//
// - Compare them byte by byte, never by Character: a Character-level
//   `hasPrefix("/")` misses "/\u{301}abc" (a slash and a combining mark
//   are one Character), although the kernel sees a "/".
// - A Swift String holds only valid Unicode, while a file name may hold any
//   bytes but NUL. `FileNameBytes` keeps such names in Strings without loss.

extension StringProtocol {
    /// True when the UTF-8 bytes start with those of `prefix`.
    func hasBytePrefix(_ prefix: String) -> Bool {
        utf8.starts(with: prefix.utf8)
    }

    /// True when the UTF-8 bytes end with those of `suffix`.
    func hasByteSuffix(_ suffix: String) -> Bool {
        utf8.count >= suffix.utf8.count && utf8.suffix(suffix.utf8.count).elementsEqual(suffix.utf8)
    }
}

/// True for a path that starts with "/".
func isAbsolutePath(_ path: String) -> Bool {
    path.utf8.first == UInt8(ascii: "/")
}

/// The part after the last "/" (the whole path when it has none).
func lastPathComponent(_ path: String) -> String {
    guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return path }
    return String(path[path.utf8.index(after: slash)...])
}

/// The part before the last "/", nil when the path has none.
func parentPath(_ path: String) -> String? {
    guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return nil }
    return String(path[..<slash])
}

extension String {
    /// The text without `suffix` when its bytes end with it, else nil.
    func droppingByteSuffix(_ suffix: String) -> String? {
        hasByteSuffix(suffix) ? String(utf8.dropLast(suffix.utf8.count)) : nil
    }

    /// The text without `prefix` when its bytes start with it, else nil.
    func droppingBytePrefix(_ prefix: String) -> String? {
        hasBytePrefix(prefix) ? String(utf8.dropFirst(prefix.utf8.count)) : nil
    }
}

/// File names that are not UTF-8, kept in Strings reversibly.
///
/// Each byte that is not part of well-formed UTF-8 becomes one scalar of
/// the private-use range U+EF80...U+EFFF (byte 0x80...0xFF; the range MirBSD's
/// OPTU-8 uses for the same purpose). So that the mapping stays one-to-one,
/// a name that really holds one of those scalars has its bytes escaped the
/// same way. `bytes(_:)` gives back the exact bytes, for open(2), stat(2),
/// exec's argv and plugins. JSON writes the escapes as `\udc80`...`\udcff`
/// (see `appendJSONFileName`), as Python's surrogateescape does, and a
/// manifest's `\udc80`...`\udcff` read back as those bytes.
///
/// A name that is valid UTF-8 without such scalars (nearly all) is the
/// same String as ever, and costs one scan.
public enum FileNameBytes {
    /// The first scalar of the escape range; byte b is scalar base + b.
    static let base: UInt32 = 0xEF00

    /// The String for a file name's bytes.
    public static func string<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> String
    where Bytes.Index == Int {
        if !bytes.contains(0xEE), let text = String(validating: bytes, as: UTF8.self) { return text }
        var scalars = String.UnicodeScalarView()
        var i = bytes.startIndex
        while i < bytes.endIndex {
            if bytes[i] < 0x80 {
                scalars.append(Unicode.Scalar(bytes[i]))
                i += 1
            } else if let length = utf8SequenceLength(bytes, at: i),
                      let scalar = decodedScalar(bytes[i..<i + length]), !isEscape(scalar.value) {
                scalars.append(scalar)
                i += length
            } else {
                // An ill-formed byte (or the whole sequence of an escape scalar) is escaped byte by byte.
                let length = utf8SequenceLength(bytes, at: i) ?? 1
                for b in bytes[i..<i + length] { scalars.append(Unicode.Scalar(base + UInt32(b))!) }
                i += length
            }
        }
        return String(scalars)
    }

    /// The String for a NUL-terminated file name.
    public static func string(cString: UnsafePointer<CChar>) -> String {
        // The common case at the cost of one validation: the standard library's, for C strings.
        if let text = String(validatingCString: cString), !text.utf8.contains(0xEE) { return text }
        let count = strlen(cString)
        return cString.withMemoryRebound(to: UInt8.self, capacity: count) {
            string(UnsafeBufferPointer(start: $0, count: count))
        }
    }

    /// The exact bytes of a file name.
    public static func bytes(_ name: String) -> [UInt8] {
        guard name.utf8.contains(0xEE) else { return Array(name.utf8) }
        var out: [UInt8] = []
        out.reserveCapacity(name.utf8.count)
        for scalar in name.unicodeScalars {
            if isEscape(scalar.value) {
                out.append(UInt8(scalar.value - base))
            } else {
                out.append(contentsOf: UTF8.encode(scalar)!)
            }
        }
        return out
    }

    /// Calls `body` with the name's exact bytes as a C string.
    public static func withCString<T>(_ name: String, _ body: (UnsafePointer<CChar>) throws -> T) rethrows -> T {
        guard name.utf8.contains(0xEE) else { return try name.withCString(body) }
        return try (bytes(name) + [0]).withUnsafeBufferPointer { buf in
            try buf.withMemoryRebound(to: CChar.self) { try body($0.baseAddress!) }
        }
    }

    /// The raw byte an escape scalar stands for, nil for other scalars.
    static func escapedByte(_ scalar: Unicode.Scalar) -> UInt8? {
        isEscape(scalar.value) ? UInt8(scalar.value - base) : nil
    }

    private static func isEscape(_ value: UInt32) -> Bool { (base + 0x80...base + 0xFF).contains(value) }

    private static func decodedScalar<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Unicode.Scalar? {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        if case .scalarValue(let scalar) = decoder.decode(&iterator) { return scalar }
        return nil
    }
}

/// Length of the well-formed UTF-8 sequence whose first byte (≥ 0x80) is at
/// `i`, or nil when it is ill-formed (RFC 3629: no overlong forms, no
/// surrogates, nothing above U+10FFFF).
func utf8SequenceLength<Bytes: Collection<UInt8>>(_ bytes: Bytes, at i: Int) -> Int? where Bytes.Index == Int {
    let length: Int
    var low: UInt8 = 0x80, high: UInt8 = 0xBF  // allowed range of the second byte
    switch bytes[i] {
    case 0xC2...0xDF: length = 2
    case 0xE0: length = 3; low = 0xA0
    case 0xE1...0xEC, 0xEE...0xEF: length = 3
    case 0xED: length = 3; high = 0x9F
    case 0xF0: length = 4; low = 0x90
    case 0xF1...0xF3: length = 4
    case 0xF4: length = 4; high = 0x8F
    default: return nil
    }
    guard i + length <= bytes.endIndex, (low...high).contains(bytes[i + 1]) else { return nil }
    for k in 2..<length where bytes[i + k] & 0xC0 != 0x80 { return nil }
    return length
}
