import Glibc
import Synchronization

/// Paths read from a text file, one per line, or from standard input when
/// the path is "-" (a file named "-" is "./-").
///
/// Lines are read lazily (getline(3) over a buffered stream), never all at
/// once. Lines holding only spaces and tabs are ignored; a trailing "\r" is
/// stripped (CRLF files work); nothing else is trimmed, since file names may
/// start or end with spaces. Each line is a path, used as is: a relative
/// path is relative to the current directory, as for `find . > list.txt` or
/// `ls | batchhost run -`. The document id is the path; metadata is `{}`.
///
/// A list file is counted in the initializer (one pass) so progress has a
/// total; standard input cannot be read twice, so its count is unknown
/// (`knownCount` is nil) and it can be iterated only once.
public struct ListSource: DocumentSource {
    /// The list file, or "-" for standard input.
    public let path: String
    public let knownCount: Int?

    /// Set once standard input has been handed to an iterator.
    private let stdinTaken: StdinClaim?

    /// - Throws: `.notFound` if the file does not exist; `.input` if it is a
    ///   directory, unreadable, or a line holds a NUL byte.
    public init(path: String) throws {
        self.path = path
        if path == "-" {
            knownCount = nil
            stdinTaken = StdinClaim()
            return
        }
        stdinTaken = nil
        let iterator = ListIterator(reader: try LineReader(path: path, what: "list file"))
        var count = 0
        while try iterator.nextPath() { count += 1 }
        knownCount = count
    }

    public func makeIterator() throws -> any DocumentIterator {
        guard let stdinTaken else {
            return ListIterator(reader: try LineReader(path: path, what: "list file"))
        }
        guard stdinTaken.claim() else {
            throw BatchCoreError(.state, "standard input was already read by this list source; a list from stdin can be iterated only once (save it to a file to read it again)")
        }
        // A duplicate of fd 0 with its own stdio stream: closing it when the
        // iterator ends leaves the process's standard input open.
        let fd = fcntl(0, F_DUPFD_CLOEXEC, 0)
        guard fd >= 0, let file = fdopen(fd, "r") else {
            let err = errno
            if fd >= 0 { close(fd) }
            throw BatchCoreError(.io, "cannot read standard input: \(errnoText(err))")
        }
        return ListIterator(reader: LineReader(file: file, name: "<stdin>"))
    }
}

/// Remembers that standard input was consumed; shared by copies of a source.
final class StdinClaim: Sendable {
    private let taken = Atomic<Bool>(false)

    /// True for the first caller only.
    func claim() -> Bool {
        !taken.exchange(true, ordering: .acquiringAndReleasing)
    }
}

final class ListIterator: DocumentIterator {
    private let reader: LineReader
    private var currentLine: UnsafeBufferPointer<UInt8> = UnsafeBufferPointer(start: nil, count: 0)

    init(reader: LineReader) { self.reader = reader }

    var line: Int { reader.lineNumber }

    func next() throws -> Document? {
        guard try nextPath() else { return nil }
        let path = FileNameBytes.string(currentLine)
        return Document(id: path, path: path)
    }

    /// Moves to the next non-blank line (left in `currentLine`); false at the end.
    func nextPath() throws -> Bool {
        while let text = try reader.next() {
            guard text.contains(where: { $0 != 0x20 && $0 != 0x09 }) else { continue }
            if text.contains(0) {
                throw BatchCoreError(.input, "\(reader.name):\(reader.lineNumber): the line holds a NUL byte; expected one path per line (for NUL-separated lists such as find -print0, convert them first)")
            }
            currentLine = text
            return true
        }
        return false
    }
}
