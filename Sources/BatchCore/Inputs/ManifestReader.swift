import Foundation
import Glibc

/// How a manifest is laid out.
enum ManifestFormat: Sendable, Equatable {
    /// JSON Lines: one object per line, blank lines ignored.
    case lines
    /// One JSON array of objects.
    case array
}

/// One manifest entry as read. The byte buffers are reused from entry to
/// entry, so reading allocates only when an entry is larger than any before.
struct ManifestEntry {
    /// 1-based line where the entry starts.
    var line = 0
    /// 1-based position among the entries (the "element" number in arrays).
    var ordinal = 0
    var path: [UInt8] = []
    var hasPath = false
    var id: [UInt8] = []
    var hasId = false
    /// Compact JSON text; filled only when the reader is asked to keep metadata.
    var metadata: [UInt8] = []
    var hasMetadata = false
    /// The document's bytes ("content" as UTF-8, or "content_base64" decoded).
    var content: [UInt8] = []
    var hasContent = false

    /// The id bytes: "id" when given, else "path".
    var idBytes: [UInt8] { hasId ? id : path }

    mutating func reset() {
        path.removeAll(keepingCapacity: true)
        id.removeAll(keepingCapacity: true)
        metadata.removeAll(keepingCapacity: true)
        content.removeAll(keepingCapacity: true)
        hasContent = false
        hasPath = false
        hasId = false
        hasMetadata = false
    }
}

/// Reads and checks the entries of a manifest one at a time: line by line for
/// JSON Lines (getline; constant memory), element by element over the file's
/// bytes for a JSON array. Every error is a `BatchCoreError(.input)` whose
/// message starts with "<manifest>:<line>:".
final class ManifestReader {
    let name: String
    let format: ManifestFormat
    /// The entry last read by `next`.
    private(set) var entry = ManifestEntry()

    private var lines: LineReader?
    private var data: [UInt8] = []
    private var pos = 0
    private var state = ArrayState.start
    private var key: [UInt8] = []
    private var scratch: [UInt8] = []

    private enum ArrayState { case start, firstElement, afterElement, done }

    /// Something wrong with an entry's content (syntax errors are `JSONScanner.Failure`).
    private struct Problem: Error { let message: String }

    private static let objectExample = #"{"path": "docs/a.pdf", "id": "a", "metadata": {"lang": "en"}}"#

    init(path: String, format: ManifestFormat) throws {
        name = path
        self.format = format
        switch format {
        case .lines:
            lines = try LineReader(path: path, what: "manifest")
        case .array:
            data = try readWholeFile(path, what: "manifest")
        }
    }

    /// Reads the next entry into `entry`; false at the end. Metadata is only
    /// copied out when `keepMetadata` is set (validation skips it).
    func next(keepMetadata: Bool) throws -> Bool {
        switch format {
        case .lines: return try nextLine(keepMetadata: keepMetadata)
        case .array: return try nextElement(keepMetadata: keepMetadata)
        }
    }

    // MARK: JSON Lines

    private func nextLine(keepMetadata: Bool) throws -> Bool {
        guard let lines else { return false }
        while let line = try lines.next() {
            var s = JSONScanner(line)
            if lines.lineNumber == 1 { s.skipByteOrderMark() }
            s.skipWhitespace()
            if s.atEnd { continue }  // blank line
            let lineNumber = lines.lineNumber
            entry.line = lineNumber
            entry.ordinal += 1
            let hint = "expected one JSON object per line, such as \(Self.objectExample)"
            do {
                try readObject(&s, keepMetadata: keepMetadata, notObjectHint: hint)
                s.skipWhitespace()
                if !s.atEnd {
                    throw s.fail("unexpected text after the object (one object per line)")
                }
            } catch let failure as JSONScanner.Failure {
                throw BatchCoreError(.input, "\(name):\(lineNumber): invalid JSON at column \(failure.offset + 1): \(failure.reason)")
            } catch let problem as Problem {
                throw BatchCoreError(.input, "\(name):\(lineNumber): \(problem.message)")
            }
            return true
        }
        return false
    }

    // MARK: JSON array

    private func nextElement(keepMetadata: Bool) throws -> Bool {
        try data.withUnsafeBufferPointer { buf -> Bool in
            var s = JSONScanner(buf, at: pos)
            defer { pos = s.pos }
            do {
                guard try moveToElement(&s) else { return false }
            } catch {
                throw arrayError(error, in: buf, at: s.pos)
            }

            // An element starts at the cursor.
            entry.ordinal += 1
            let start = s.pos
            do {
                try readObject(&s, keepMetadata: keepMetadata,
                               notObjectHint: "expected an object such as \(Self.objectExample)")
            } catch {
                throw arrayError(error, in: buf, at: start, element: "element \(entry.ordinal): ")
            }
            entry.line = line(of: start, in: buf)
            state = .afterElement
            return true
        }
    }

    /// The manifest's error for a scan failure (placed by its offset) or a
    /// problem (placed at `offset`), which ends the array; `element`
    /// prefixes the message. Other errors pass as they are.
    private func arrayError(_ error: any Error, in buf: UnsafeBufferPointer<UInt8>, at offset: Int,
                            element: String = "") -> any Error {
        switch error {
        case let failure as JSONScanner.Failure:
            state = .done
            let (line, column) = position(of: failure.offset, in: buf)
            return BatchCoreError(.input, "\(name):\(line): \(element)invalid JSON at column \(column): \(failure.reason)")
        case let problem as Problem:
            state = .done
            return BatchCoreError(.input, "\(name):\(line(of: offset, in: buf)): \(element)\(problem.message)")
        default:
            return error
        }
    }

    /// Moves past the array's opening '[' or the ',' after an element;
    /// false at the closing ']' (then the array is finished).
    private func moveToElement(_ s: inout JSONScanner) throws -> Bool {
        switch state {
        case .done:
            return false
        case .start:
            s.skipByteOrderMark()
            s.skipWhitespace()
            guard s.current == UInt8(ascii: "[") else {
                if s.atEnd {
                    throw Problem(message: "the file is empty; expected a JSON array of objects such as [\(Self.objectExample)]")
                }
                let also = s.current == UInt8(ascii: "{")
                    ? " (for one object per line, name the file .jsonl)" : ""
                throw Problem(message: "expected a JSON array of objects, found \(s.kindAtCursor)\(also)")
            }
            s.pos += 1
            s.skipWhitespace()
            if s.current == UInt8(ascii: "]") {
                s.pos += 1
                try finishArray(&s)
                return false
            }
            state = .firstElement
        case .afterElement:
            s.skipWhitespace()
            switch s.current {
            case UInt8(ascii: ","):
                s.pos += 1
                s.skipWhitespace()
                if s.current == UInt8(ascii: "]") {
                    throw s.fail("trailing comma before ']'")
                }
            case UInt8(ascii: "]"):
                s.pos += 1
                try finishArray(&s)
                return false
            case nil:
                throw s.fail("unexpected end of file; expected ',' or ']' after element \(entry.ordinal)")
            default:
                throw s.fail("expected ',' or ']' after element \(entry.ordinal)")
            }
        case .firstElement:
            break
        }
        return true
    }

    /// Only whitespace may follow the closing ']'.
    private func finishArray(_ s: inout JSONScanner) throws {
        state = .done
        s.skipWhitespace()
        if !s.atEnd { throw s.fail("unexpected text after the closing ']'") }
    }

    /// Incremental line counting: elements are visited in order, so counting
    /// newlines from the last position keeps the whole pass linear.
    private var countedTo = 0
    private var countedLines = 1

    /// 1-based line of `offset`.
    private func line(of offset: Int, in buf: UnsafeBufferPointer<UInt8>) -> Int {
        if offset < countedTo { countedTo = 0; countedLines = 1 }
        var i = countedTo
        while i < offset {
            if buf[i] == 0x0A { countedLines += 1 }
            i += 1
        }
        countedTo = offset
        return countedLines
    }

    /// 1-based line and column (in bytes) of `offset`, for error messages
    /// only: finding the column walks back to the start of the line, which
    /// may be the whole file for a one-line array.
    private func position(of offset: Int, in buf: UnsafeBufferPointer<UInt8>) -> (line: Int, column: Int) {
        var lineStart = offset
        while lineStart > 0 && buf[lineStart - 1] != 0x0A { lineStart -= 1 }
        return (line(of: offset, in: buf), offset - lineStart + 1)
    }

    // MARK: One entry

    /// Reads the object at the cursor into `entry` and checks its content.
    private func readObject(_ s: inout JSONScanner, keepMetadata: Bool, notObjectHint: String) throws {
        entry.reset()
        guard s.current == UInt8(ascii: "{") else {
            try probe(s)  // a syntax error wins
            throw Problem(message: "not a JSON object (found \(s.kindAtCursor)); \(notObjectHint)")
        }
        s.pos += 1
        s.skipWhitespace()
        if s.current == UInt8(ascii: "}") {
            s.pos += 1
        } else {
            members: while true {
                guard s.current == UInt8(ascii: "\"") else { throw s.fail("expected a string key in double quotes") }
                key.removeAll(keepingCapacity: true)
                try s.scanString(.key, into: &key)
                s.skipWhitespace()
                guard s.current == UInt8(ascii: ":") else { throw s.fail("expected ':' after an object key") }
                s.pos += 1
                s.skipWhitespace()
                try readMember(&s, keepMetadata: keepMetadata)
                s.skipWhitespace()
                switch s.current {
                case UInt8(ascii: ","):
                    s.pos += 1
                    s.skipWhitespace()
                case UInt8(ascii: "}"):
                    s.pos += 1
                    break members
                default:
                    throw s.fail("expected ',' or '}' after an object member")
                }
            }
        }
        try checkEntry()
    }

    /// Reads the value of the member whose key is in `key`.
    private func readMember(_ s: inout JSONScanner, keepMetadata: Bool) throws {
        if key.elementsEqual("path".utf8) {
            try readString(&s, field: "path", example: "docs/a.pdf", seen: entry.hasPath, into: &entry.path)
            entry.hasPath = true
        } else if key.elementsEqual("id".utf8) {
            try readString(&s, field: "id", example: "invoice-17", seen: entry.hasId, into: &entry.id)
            entry.hasId = true
        } else if key.elementsEqual("content".utf8) || key.elementsEqual("content_base64".utf8) {
            try readContent(&s, base64: key.count > "content".count)
        } else if key.elementsEqual("metadata".utf8) {
            if entry.hasMetadata { throw Problem(message: duplicateKey("metadata")) }
            guard s.current == UInt8(ascii: "{") else {
                try probe(s)
                throw Problem(message: "\"metadata\" must be a JSON object, not \(s.kindAtCursor); expected e.g. \"metadata\": {\"lang\": \"en\"}")
            }
            if keepMetadata {
                try s.scanValue(emit: true, into: &entry.metadata)
            } else {
                try s.scanValue(emit: false, into: &scratch)
            }
            entry.hasMetadata = true
        } else {
            try s.scanValue(emit: false, into: &scratch)  // unknown keys are ignored
        }
    }

    /// What an entry must hold once its object is read.
    private func checkEntry() throws {
        if entry.hasContent {
            guard !entry.hasPath else {
                throw Problem(message: "give either \"path\" or the content (\"content\", \"content_base64\"), not both")
            }
            guard entry.hasId else {
                throw Problem(message: "a document given by its content needs an \"id\"; expected e.g. {\"id\": \"mail-1\", \"content\": \"Hello\"}")
            }
        }
        guard entry.hasPath || entry.hasId else {
            throw Problem(message: "missing \"path\"; expected a \"path\" string (or an \"id\" for a document without a file, or \"content\" with an \"id\")")
        }
    }

    /// "content" (text, kept as UTF-8) or "content_base64" (bytes).
    private func readContent(_ s: inout JSONScanner, base64: Bool) throws {
        let field = base64 ? "content_base64" : "content"
        if entry.hasContent { throw Problem(message: "\"content\" and \"content_base64\" give the content twice; expected one of them once") }
        guard s.current == UInt8(ascii: "\"") else {
            try probe(s)
            throw Problem(message: "\"\(field)\" must be a string, not \(s.kindAtCursor)")
        }
        try s.scanString(.key, into: &entry.content)
        entry.hasContent = true
        guard base64 else { return }
        guard let bytes = Data(base64Encoded: Data(entry.content)) else {
            throw Problem(message: "\"content_base64\" is not valid base64 (RFC 4648, with padding)")
        }
        entry.content = Array(bytes)
    }

    private func readString(_ s: inout JSONScanner, field: String, example: String, seen: Bool, into out: inout [UInt8]) throws {
        if seen { throw Problem(message: duplicateKey(field)) }
        guard s.current == UInt8(ascii: "\"") else {
            try probe(s)
            throw Problem(message: "\"\(field)\" must be a string, not \(s.kindAtCursor); expected e.g. \"\(field)\": \"\(example)\"")
        }
        try s.scanString(.fileName, into: &out)
        if out.isEmpty {
            throw Problem(message: "\"\(field)\" is empty; expected e.g. \"\(field)\": \"\(example)\"")
        }
        if out.contains(0) {
            throw Problem(message: "\"\(field)\" contains a NUL character (\\u0000); expected e.g. \"\(field)\": \"\(example)\"")
        }
    }

    /// Throws the syntax error of the value at the cursor, if it has one, so
    /// a malformed value is reported as such rather than as a wrong type.
    private func probe(_ s: JSONScanner) throws {
        var copy = s
        try copy.scanValue(emit: false, into: &scratch)
    }

    private func duplicateKey(_ field: String) -> String {
        "\"\(field)\" appears twice in one object; expected each key once"
    }
}

/// The whole content of a file (for JSON-array manifests), with messages
/// naming `what` it is.
func readWholeFile(_ path: String, what: String) throws -> [UInt8] {
    let file = try openForReading(path, what: what)
    defer { fclose(file) }
    do {
        return try readAll(fileno(file))
    } catch {
        throw BatchCoreError(.io, "cannot read \(what) '\(path)': \(errnoText(error.code))")
    }
}
