/// The command of an `exec` stage: an argv whose elements may hold
/// placeholders, filled in for each document.
///
/// The command text is either a JSON array of strings
/// (`["wc", "-l", "{}"]`) or a plain string split into words the way a POSIX
/// shell splits them — but with no expansion of any kind:
///
/// - whitespace (space, tab, newline) separates words;
/// - `'…'` keeps everything literally up to the next `'`;
/// - `"…"` keeps everything literally except `\"`, `\\`, `\$` and `` \` ``,
///   which stand for the escaped character (any other `\` stays as is);
/// - outside quotes, `\` makes the next character literal;
/// - `$`, `` ` ``, `*`, `?`, `[`, `~` and `#` are ordinary characters: nothing
///   is expanded, substituted or globbed, because no shell ever runs.
///
/// An unquoted word that is a shell operator (`|`, `&&`, `;`, `>`, `2>&1`, …)
/// is rejected: without a shell it would reach the program as a plain
/// argument, which is never what was meant. Quote it to pass it literally, or
/// write the shell yourself: `["sh", "-c", "tr a-z A-Z < \"$1\"", "sh", "{}"]`.
///
/// Placeholders, replaced inside each element (text may surround them):
///
/// | placeholder | becomes |
/// |---|---|
/// | `{}`, `{path}` | the document's path, or its id when it has no path |
/// | `{id}` | the document's id |
/// | `{stage}` | the stage number (0 for the first stage) |
/// | `{attempt}` | the attempt number |
/// | `{shared}` | the file holding the stage's `prepare` output (empty without one) |
/// | `{{`, `}}` | a literal `{` or `}` |
///
/// Any other brace text is kept as written, so `awk '{print $1}'` needs no
/// escaping (the one brace rule of batchcore's templates).
public struct ArgvTemplate: Sendable, Equatable {
    /// What a placeholder stands for.
    public enum Placeholder: String, Sendable, CaseIterable {
        case path, id, stage, attempt, shared
    }

    /// A run of literal text or one placeholder.
    public enum Piece: Sendable, Equatable {
        case text(String)
        case placeholder(Placeholder)
    }

    /// One list of pieces per argv element; element 0 names the program.
    public let arguments: [[Piece]]

    /// Parses a command (JSON array or words) and its placeholders.
    public init(command: String) throws(ArgvTemplateError) {
        try self.init(argv: ArgvTemplate.parseCommand(command))
    }

    /// Parses the placeholders of each element of an argv already split.
    public init(argv: [String]) throws(ArgvTemplateError) {
        guard let program = argv.first else {
            throw ArgvTemplateError("the command is empty")
        }
        guard !program.isEmpty else {
            throw ArgvTemplateError("the program name (argv[0]) is empty")
        }
        var arguments: [[Piece]] = []
        arguments.reserveCapacity(argv.count)
        for (index, element) in argv.enumerated() {
            if element.utf8.contains(0) {
                throw ArgvTemplateError("argv[\(index)] contains a NUL character, which no argument can hold")
            }
            arguments.append(ArgvTemplate.pieces(of: element))
        }
        self.arguments = arguments
    }

    /// True if any element names the document's path (`{}`, `{path}`).
    public var usesPath: Bool {
        arguments.contains { $0.contains(.placeholder(.path)) }
    }

    /// True if any element holds a placeholder.
    public var hasPlaceholders: Bool {
        arguments.contains { $0.contains { if case .placeholder = $0 { true } else { false } } }
    }

    /// The argv for one document. `path` is what `{}` and `{path}` become
    /// (pass the id when the document has no path), `shared` what `{shared}` becomes.
    public func render(path: String, id: String, stage: Int, attempt: Int, shared: String = "") -> [String] {
        arguments.map { pieces in
            if pieces.count == 1, case .text(let text) = pieces[0] { return text }
            var out = ""
            for piece in pieces {
                switch piece {
                case .text(let text): out += text
                case .placeholder(.path): out += path
                case .placeholder(.id): out += id
                case .placeholder(.stage): out += String(stage)
                case .placeholder(.attempt): out += String(attempt)
                case .placeholder(.shared): out += shared
                }
            }
            return out
        }
    }

    // MARK: Parsing the command text

    /// Splits a command into argv: a JSON array of strings when the text is
    /// one, else POSIX-style words (see the type's documentation).
    public static func parseCommand(_ text: String) throws(ArgvTemplateError) -> [String] {
        let trimmed = text.trimmingSpaces
        guard !trimmed.isEmpty else { throw ArgvTemplateError("the command is empty") }
        if trimmed.hasPrefix("[") {
            if let argv = jsonArgv(trimmed) {
                guard !argv.isEmpty else { throw ArgvTemplateError("the command is an empty JSON array") }
                return argv
            }
            // `[ -f x ]` is a command (test(1)); `["wc", …` or `[]` meant JSON.
            let afterBracket = trimmed.dropFirst().drop { $0.isWhitespace }
            if afterBracket.first == "\"" || afterBracket.first == "]" || afterBracket.first == "[" {
                throw ArgvTemplateError("the command starts like a JSON array but is not a valid JSON array of strings")
            }
        }
        return try splitWords(trimmed)
    }

    /// Parses `["a", "b"]`; nil if the text is not a JSON array of strings.
    static func jsonArgv(_ text: String) -> [String]? {
        guard case .array(let items)? = try? JSONValue.parse(Array(text.utf8)) else { return nil }
        var argv: [String] = []
        argv.reserveCapacity(items.count)
        for item in items {
            guard case .string(let s) = item else { return nil }
            argv.append(s)
        }
        return argv
    }

    /// Unquoted words that mean something only to a shell.
    static let shellOperators: Set<String> = [
        "|", "||", "|&", "&", "&&", ";", ";;", "<", ">", ">>", ">|", "<<", "<<<",
        "&>", "&>>", "2>", "2>>", "2>&1", ">&2", "1>&2",
    ]

    /// Splits text into words as a POSIX shell does, without any expansion.
    public static func splitWords(_ text: String) throws(ArgvTemplateError) -> [String] {
        let scalars = Array(text.unicodeScalars)
        var words: [String] = []
        var word = String.UnicodeScalarView()
        var inWord = false       // a word has begun (even an empty quoted one)
        var quoted = false       // some part of the word was quoted or escaped
        var i = 0

        func isBlank(_ c: Unicode.Scalar) -> Bool { c == " " || c == "\t" || c == "\n" || c == "\r" }

        func finishWord() throws(ArgvTemplateError) {
            guard inWord else { return }
            let s = String(word)
            if !quoted { try refuseShellOperator(s) }
            words.append(s)
            word = String.UnicodeScalarView()
            inWord = false
            quoted = false
        }

        while i < scalars.count {
            let c = scalars[i]
            if isBlank(c) {
                try finishWord()
                i += 1
                continue
            }
            if c == "\\", i + 1 < scalars.count, scalars[i + 1] == "\n" {
                i += 2  // line continuation: removed, and it neither starts nor ends a word
                continue
            }
            inWord = true
            switch c {
            case "'":
                quoted = true
                guard let close = scalars[(i + 1)...].firstIndex(of: "'") else {
                    throw ArgvTemplateError("unterminated single quote (opened at character \(i + 1))")
                }
                word.append(contentsOf: scalars[(i + 1)..<close])
                i = close + 1
            case "\"":
                quoted = true
                i = try readDoubleQuoted(scalars, from: i, into: &word)
            case "\\":
                guard i + 1 < scalars.count else {
                    throw ArgvTemplateError("the command ends with a lone backslash")
                }
                quoted = true
                word.append(scalars[i + 1])
                i += 2
            default:
                word.append(c)
                i += 1
            }
        }
        try finishWord()
        guard !words.isEmpty else { throw ArgvTemplateError("the command is empty") }
        return words
    }

    /// An unquoted word that only a shell understands is refused.
    private static func refuseShellOperator(_ word: String) throws(ArgvTemplateError) {
        guard shellOperators.contains(word) else { return }
        throw ArgvTemplateError(
            "'\(word)' is a shell operator, but exec runs no shell: quote it to pass it as an argument, "
            + "or run a shell yourself, e.g. [\"sh\", \"-c\", \"cmd \\\"$1\\\" | other\", \"sh\", \"{}\"]")
    }

    /// Reads the double-quoted text opening at `open` into `word`; returns
    /// the index past its closing quote.
    private static func readDoubleQuoted(_ scalars: [Unicode.Scalar], from open: Int,
                                         into word: inout String.UnicodeScalarView) throws(ArgvTemplateError) -> Int {
        var i = open + 1
        while i < scalars.count {
            let d = scalars[i]
            if d == "\"" { return i + 1 }
            if d == "\\", i + 1 < scalars.count {
                let next = scalars[i + 1]
                if next == "\"" || next == "\\" || next == "$" || next == "`" {
                    word.append(next); i += 2; continue
                }
                if next == "\n" { i += 2; continue }  // line continuation
            }
            word.append(d)
            i += 1
        }
        throw ArgvTemplateError("unterminated double quote (opened at character \(open + 1))")
    }

    // MARK: Placeholders

    /// Splits an element into text and the known placeholders. Any other
    /// brace text (`{print $1}`, a lone `{` or `}`) is kept as it is;
    /// `{{` and `}}` stand for one brace.
    static func pieces(of element: String) -> [Piece] {
        let scalars = Array(element.unicodeScalars)
        var pieces: [Piece] = []
        var text = String.UnicodeScalarView()
        var i = 0
        func flush() {
            if !text.isEmpty { pieces.append(.text(String(text))); text = String.UnicodeScalarView() }
        }
        while i < scalars.count {
            let c = scalars[i]
            if (c == "{" || c == "}"), i + 1 < scalars.count, scalars[i + 1] == c {
                text.append(c)
                i += 2
            } else if c == "{", let (placeholder, end) = placeholder(in: scalars, at: i) {
                flush()
                pieces.append(.placeholder(placeholder))
                i = end
            } else {
                text.append(c)
                i += 1
            }
        }
        flush()
        if pieces.isEmpty { pieces.append(.text("")) }
        return pieces
    }

    /// The known placeholder whose "{" is at `open`, and the index after its "}".
    private static func placeholder(in scalars: [Unicode.Scalar], at open: Int) -> (Placeholder, Int)? {
        guard let close = scalars[(open + 1)...].firstIndex(of: "}") else { return nil }
        let name = String(String.UnicodeScalarView(scalars[(open + 1)..<close]))
        guard let placeholder = name.isEmpty ? .path : Placeholder(rawValue: name) else { return nil }
        return (placeholder, close + 1)
    }
}

/// Why a command could not be parsed.
public struct ArgvTemplateError: Error, CustomStringConvertible, Sendable, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
