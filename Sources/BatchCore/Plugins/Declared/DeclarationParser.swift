import Glibc
import TOMLKit

/// Reads a declaration file into a `Declaration` and checks everything that
/// can be checked without the library: fields, types, argument sources and
/// how they fit together. Every error names the file and the field, says what
/// was wrong and what would be right:
/// `crc32.toml: process.args[1].from: unknown source 'bytez'; expected one of …`.
enum DeclarationParser {
    /// The output buffer's size when a `buffer` argument gives no `capacity`.
    static let defaultBufferCapacity = 4096
    /// The largest output buffer a declaration may ask for.
    static let maxBufferCapacity = 1 << 30

    static func parse(file: String) throws -> Declaration {
        let text: String
        do {
            text = String(decoding: try readWholeFile(file), as: UTF8.self)
        } catch {
            throw BatchCoreError(.plugin, "cannot read declaration '\(file)': \(errnoText(error.code))")
        }
        return try parse(text: text, file: file)
    }

    static func parse(text: String, file: String) throws -> Declaration {
        let root: TOMLTable
        do {
            root = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            let at = error.source.begin
            throw BatchCoreError(.plugin, "\(file):\(at.line):\(at.column): not valid TOML: \(error.description)")
        }
        let top = Fields(table: root, path: "", file: file)
        try top.allowOnly(["name", "version", "description", "library", "thread_safe", "init", "process", "cleanup"])

        let name = try top.string("name") ?? defaultName(for: file)
        guard !name.isEmpty, !name.utf8.contains(UInt8(ascii: "/")) else {
            throw top.error("name", "'\(name)' is not a usable processor name; use letters, digits, '-' or '_'")
        }
        guard let library = try top.string("library"), !library.isEmpty else {
            throw top.error("library", "missing; name the shared library by soname or path, e.g. library = \"libz.so.1\"")
        }

        let initTables = try top.tableOrTables("init")
        var initCalls: [CallDeclaration] = []
        for (index, fields) in initTables.enumerated() {
            initCalls.append(try parseCall(fields, role: index == 0 ? .createHandle : .setUpHandle))
        }
        let hasHandle = !initCalls.isEmpty

        guard let processFields = try top.table("process") else {
            throw top.error("process", "missing; add a [process] table naming the function called per document")
        }
        var process = try parseCall(processFields, role: .process(hasHandle: hasHandle))
        let output = try parseOutput(processFields, call: process)
        // A string result the output needs cannot be NULL even when the file
        // does not say so.
        if output == .string && process.failsIf == nil { process.failsIf = .null }

        var cleanup: CallDeclaration? = nil
        if let fields = try top.table("cleanup") {
            guard hasHandle else {
                throw top.error("cleanup", "there is no handle to clean up: add [[init]] calls that create one, or remove [cleanup]")
            }
            cleanup = try parseCall(fields, role: .cleanup)
        }

        let description = try top.string("description") ?? "\(process.function)() from \(library) (declared)"
        return Declaration(
            file: file,
            name: name,
            version: try top.string("version") ?? "",
            description: description,
            library: library,
            threadSafe: try top.bool("thread_safe") ?? false,
            initCalls: initCalls,
            process: process,
            output: output,
            cleanup: cleanup)
    }

    /// `plugins/crc32.toml` is named `crc32`.
    static func defaultName(for file: String) -> String {
        let base = lastPathComponent(file)
        return base.droppingByteSuffix(".toml") ?? base
    }

    // MARK: Calls

    private enum Role {
        case createHandle, setUpHandle, cleanup
        case process(hasHandle: Bool)

        var isProcess: Bool { if case .process = self { true } else { false } }
        var hasHandle: Bool {
            switch self {
            case .createHandle: false
            case .setUpHandle, .cleanup: true
            case .process(let hasHandle): hasHandle
            }
        }
    }

    private static func parseCall(_ f: Fields, role: Role) throws -> CallDeclaration {
        var known = ["function", "returns", "args", "fails_if", "error_message"]
        if role.isProcess { known.append("output") }
        try f.allowOnly(known)

        guard let function = try f.string("function"), !function.isEmpty else {
            throw f.error("function", "missing; name the C function to call, e.g. function = \"crc32\"")
        }
        let returns = try f.string("returns").map { try type(named: $0, f, "returns") } ?? CType.named("void")!

        switch role {
        case .createHandle:
            guard returns.kind == .handle else {
                throw f.error("returns", "the first init call creates the handle, so it must return it: returns = \"handle\" (not \(returns))")
            }
        default:
            if returns.kind == .handle {
                throw f.error("returns", "only the first init call returns the handle; declare this result as \"pointer\" or another type")
            }
        }

        var args: [ArgumentDeclaration] = []
        if let list = try f.tables("args") {
            for (index, argFields) in list.enumerated() {
                args.append(try parseArgument(argFields, index: index, role: role))
            }
        } else if case .cleanup = role {
            args = [ArgumentDeclaration(type: CType.named("handle")!, source: .handle)]
        }
        try checkArgumentsFitTogether(args, f)

        let failsIf = try parseFailure(f, returns: returns)
        var errorMessage: ErrorMessageSource? = nil
        if let text = try f.string("error_message") {
            if text.isEmpty {
                throw f.error("error_message", "empty; name a function such as \"magic_error\", or use \"\(ErrorMessageSource.errnoSpelling)\"")
            }
            errorMessage = text == ErrorMessageSource.errnoSpelling ? .errno : .function(text)
            if failsIf == nil {
                throw f.error("error_message", "is only used when the call fails: also set fails_if (e.g. fails_if = -1 or \"null\")")
            }
            if case .createHandle = role, errorMessage != .errno {
                throw f.error("error_message", "this call creates the handle, so there is no handle to ask for a message when it fails; use \"\(ErrorMessageSource.errnoSpelling)\" or remove error_message")
            }
        }
        return CallDeclaration(field: f.path, function: function, returns: returns, args: args,
                               failsIf: failsIf, errorMessage: errorMessage)
    }

    private static func parseArgument(_ f: Fields, index: Int, role: Role) throws -> ArgumentDeclaration {
        try f.allowOnly(["type", "from", "value", "capacity"])
        guard let typeName = try f.string("type") else {
            throw f.error("type", "missing; give the C type of argument \(index), e.g. type = \"int\" (known types: \(CType.canonicalNames.joined(separator: ", ")))")
        }
        let type = try type(named: typeName, f, "type")
        if type.kind == .void {
            throw f.error("type", "void is only a return type; an argument needs a type with a value")
        }
        guard let sourceName = try f.string("from") else {
            throw f.error("from", "missing; say where the value comes from: \(sourceList)")
        }
        guard let tag = ArgumentSource.Tag(rawValue: sourceName) else {
            throw f.error("from", "unknown source '\(sourceName)'\(suggestion(sourceName, ArgumentSource.Tag.allCases.map(\.rawValue))); expected one of \(sourceList)")
        }

        // What the call can offer: documents only exist in process, the
        // handle only after the first init call.
        let documentSources: Set<ArgumentSource.Tag> = [.bytes, .length, .path, .id, .buffer, .capacity, .written]
        if !role.isProcess && documentSources.contains(tag) {
            throw f.error("from", "source '\(tag.rawValue)' is only available in [process]: init and cleanup run without a document; use const, null or handle")
        }
        if tag == .handle && !role.hasHandle {
            if case .createHandle = role {
                throw f.error("from", "this call creates the handle, so it cannot take it as an argument")
            }
            throw f.error("from", "source 'handle' needs a handle, but nothing creates one: add an [[init]] call with returns = \"handle\"")
        }
        if f.has("value") && tag != .constant {
            throw f.error("value", "only a const argument takes a value (this one is from = \"\(tag.rawValue)\")")
        }
        if f.has("capacity") && tag != .buffer {
            throw f.error("capacity", "only a buffer argument takes a capacity (this one is from = \"\(tag.rawValue)\")")
        }

        func requireType(_ allowed: (CType) -> Bool, _ expected: String) throws {
            guard allowed(type) else {
                throw f.error("type", "source '\(tag.rawValue)' needs \(expected), not \(type)")
            }
        }
        let source: ArgumentSource
        switch tag {
        case .bytes:
            try requireType({ $0.kind == .pointer || $0.kind == .string }, "a pointer or string type")
            source = .bytes
        case .length:
            try requireType(\.isInteger, "an integer type (e.g. size_t)")
            source = .length
        case .path, .id:
            try requireType({ $0.kind == .string || $0.kind == .pointer }, "type string (const char *)")
            source = tag == .path ? .path : .id
        case .handle:
            try requireType({ $0.kind == .handle || $0.kind == .pointer }, "type handle")
            source = .handle
        case .null:
            try requireType(\.isPointerLike, "a pointer type (pointer, string or handle)")
            source = .null
        case .constant:
            source = .constant(try constant(f, type: type))
        case .buffer:
            try requireType({ $0.kind == .pointer || $0.kind == .string }, "a pointer or string type (char *)")
            let capacity = try f.int("capacity") ?? defaultBufferCapacity
            guard (1...maxBufferCapacity).contains(capacity) else {
                throw f.error("capacity", "\(capacity) is out of range; expected 1 to \(maxBufferCapacity) bytes")
            }
            source = .buffer(capacity: capacity)
        case .capacity:
            try requireType(\.isInteger, "an integer type (e.g. size_t)")
            source = .capacity
        case .written:
            try requireType({ $0.kind == .pointer }, "type pointer (it points to a size_t the function sets)")
            source = .written
        }
        if type.kind == .handle && tag != .handle && tag != .null {
            throw f.error("type", "type handle is for the handle itself (from = \"handle\"); use \"pointer\" for other pointers")
        }
        return ArgumentDeclaration(type: type, source: source)
    }

    private static func constant(_ f: Fields, type: CType) throws -> ArgumentSource.Constant {
        guard let raw = f.value("value") else {
            throw f.error("value", "missing; a const argument needs a value, e.g. value = 0")
        }
        switch type.kind {
        case .signedInteger, .unsignedInteger:
            guard let value = raw.int else {
                throw f.error("value", "expected an integer for type \(type), got \(describe(raw))")
            }
            guard type.holds(Int64(value)) else {
                throw f.error("value", "\(value) does not fit in \(type) (\(type.integerRangeText))")
            }
            return .integer(Int64(value))
        case .float, .double:
            if let value = raw.double { return .float(value) }
            if let value = raw.int { return .float(Double(value)) }
            throw f.error("value", "expected a number for type \(type), got \(describe(raw))")
        case .string:
            guard let value = raw.string else {
                throw f.error("value", "expected a string for type string, got \(describe(raw))")
            }
            guard !value.utf8.contains(0) else {
                throw f.error("value", "a C string cannot hold a NUL character")
            }
            return .string(value)
        case .pointer, .handle, .void:
            throw f.error("type", "a const argument needs a number or string type; for a NULL pointer use from = \"null\"")
        }
    }

    /// Sources that belong to another argument must have it, and appear once.
    private static func checkArgumentsFitTogether(_ args: [ArgumentDeclaration], _ f: Fields) throws {
        func indices(_ tag: ArgumentSource.Tag) -> [Int] {
            args.indices.filter { args[$0].source.tag == tag }
        }
        for tag in [ArgumentSource.Tag.buffer, .written] where indices(tag).count > 1 {
            let second = indices(tag)[1]
            throw f.error("args[\(second)].from", "a call takes at most one '\(tag.rawValue)' argument (args[\(indices(tag)[0])] is one already)")
        }
        if indices(.buffer).isEmpty {
            for tag in [ArgumentSource.Tag.capacity, .written] {
                if let index = indices(tag).first {
                    throw f.error("args[\(index)].from", "source '\(tag.rawValue)' describes the output buffer, but no argument has from = \"buffer\"")
                }
            }
        }
        if case .buffer(let capacity) = args.first(where: { $0.source.tag == .buffer })?.source,
           let index = indices(.capacity).first, !args[index].type.holds(UInt64(capacity)) {
            throw f.error("args[\(index)].type", "the buffer's capacity \(capacity) does not fit in \(args[index].type) (\(args[index].type.integerRangeText))")
        }
    }

    private static func parseFailure(_ f: Fields, returns: CType) throws -> FailureCondition? {
        guard let raw = f.value("fails_if") else { return nil }
        if returns.kind == .void {
            throw f.error("fails_if", "the function returns void, so no return value can mean failure; remove fails_if or declare returns")
        }
        if let value = raw.int {
            guard returns.isInteger else {
                throw f.error("fails_if", "an integer error value needs an integer return type, not \(returns); for pointers use \"null\"")
            }
            // Values are compared as bit patterns of the return type's width,
            // so -1 also names (size_t)-1 and 0xFFFFFFFF also names (int)-1.
            let unusedBits = 64 - returns.size * 8
            let fits = Int64(value) >= Int64.min >> unusedBits && (value < 0 || UInt64(value) <= UInt64.max >> unusedBits)
            guard fits else {
                throw f.error("fails_if", "\(value) cannot be returned by \(returns) (\(returns.integerRangeText))")
            }
            return .equals(Int64(value))
        }
        guard let word = raw.string else {
            throw f.error("fails_if", "expected an integer error value or one of \"null\", \"negative\", \"zero\", \"nonzero\"; got \(describe(raw))")
        }
        switch word {
        case "null":
            guard returns.isPointerLike else {
                throw f.error("fails_if", "\"null\" needs a pointer or string return type, not \(returns)")
            }
            return .null
        case "negative":
            guard returns.kind == .signedInteger else {
                throw f.error("fails_if", "\"negative\" needs a signed integer return type, not \(returns)")
            }
            return .negative
        case "zero", "nonzero":
            guard returns.isInteger else {
                throw f.error("fails_if", "\"\(word)\" needs an integer return type, not \(returns)")
            }
            return word == "zero" ? .zero : .nonzero
        default:
            throw f.error("fails_if", "unknown condition '\(word)'; expected an integer error value or one of \"null\", \"negative\", \"zero\", \"nonzero\"")
        }
    }

    // MARK: Output

    private static func parseOutput(_ process: Fields, call: CallDeclaration) throws -> OutputDeclaration {
        guard let f = try process.table("output") else {
            throw process.error("output", "missing; say how the result becomes the output, e.g. output = { from = \"return\", format = \"decimal\" } or output = { from = \"buffer\" }")
        }
        try f.allowOnly(["from", "format", "width", "length"])
        guard let from = try f.string("from") else {
            throw f.error("from", "missing; expected \"return\" (the returned number or string) or \"buffer\" (the output buffer argument)")
        }
        switch from {
        case "return":
            if f.has("length") { throw f.error("length", "only an output from = \"buffer\" has a length") }
            switch call.returns.kind {
            case .string:
                if f.has("format") || f.has("width") {
                    throw f.error(f.has("format") ? "format" : "width", "a returned string is output as it is; format and width are for numbers")
                }
                return .string
            case .signedInteger, .unsignedInteger, .float, .double:
                let format = try f.string("format") ?? "decimal"
                let width = try f.int("width")
                switch format {
                case "decimal":
                    if width != nil { throw f.error("width", "width pads hex output; remove it or use format = \"hex\"") }
                    return .number(.decimal)
                case "hex":
                    guard call.returns.isInteger else {
                        throw f.error("format", "hex needs an integer return type, not \(call.returns)")
                    }
                    let digits = width ?? 1
                    guard (1...32).contains(digits) else {
                        throw f.error("width", "\(digits) is out of range; expected 1 to 32 hex digits")
                    }
                    return .number(.hex(width: digits))
                default:
                    throw f.error("format", "unknown format '\(format)'; expected \"decimal\" or \"hex\"")
                }
            case .void, .pointer, .handle:
                throw f.error("from", "'return' needs a number or string result, but process returns \(call.returns); declare returns = \"string\" or an integer type, or use from = \"buffer\"")
            }
        case "buffer":
            guard call.index(of: .buffer) != nil else {
                throw f.error("from", "'buffer' needs an argument with from = \"buffer\" in process.args")
            }
            if f.has("format") || f.has("width") {
                throw f.error(f.has("format") ? "format" : "width", "the buffer is output as it is; format and width are for returned numbers")
            }
            switch try f.string("length") ?? "nul" {
            case "nul":
                return .buffer(.nulTerminated)
            case "return":
                guard call.returns.isInteger else {
                    throw f.error("length", "\"return\" needs an integer return type holding the byte count, not \(call.returns)")
                }
                return .buffer(.returned)
            case "written":
                guard call.index(of: .written) != nil else {
                    throw f.error("length", "\"written\" needs an argument with from = \"written\" in process.args")
                }
                return .buffer(.written)
            case let other:
                throw f.error("length", "unknown length '\(other)'; expected \"nul\" (up to the first NUL byte), \"return\" or \"written\"")
            }
        default:
            throw f.error("from", "unknown output source '\(from)'; expected \"return\" or \"buffer\"")
        }
    }

    // MARK: Helpers

    private static let sourceList = ArgumentSource.Tag.allCases.map(\.rawValue).joined(separator: ", ")

    private static func type(named name: String, _ f: Fields, _ key: String) throws -> CType {
        guard let type = CType.named(name) else {
            throw f.error(key, "unknown type '\(name)'\(suggestion(name, CType.canonicalNames)); expected one of \(CType.canonicalNames.joined(separator: ", ")) (or a <stdint.h> name such as uint32_t)")
        }
        return type
    }

    static func suggestion(_ word: String, _ known: [String]) -> String {
        guard let near = known.min(by: { editDistance($0, word) < editDistance($1, word) }),
              editDistance(near, word) <= max(2, word.count / 3) else { return "" }
        return " (did you mean '\(near)'?)"
    }

    static func describe(_ value: TOMLValueConvertible) -> String {
        switch value.type {
        case .string: "a string"
        case .int: "an integer"
        case .double: "a float"
        case .bool: "a boolean"
        case .table: "a table"
        case .array: "an array"
        case .date, .time, .dateTime: "a date or time"
        }
    }
}

/// A TOML table being read, with its place in the file for messages.
private struct Fields {
    let table: TOMLTable
    /// Dotted path of the table: "" for the top level, "process.args[1]".
    let path: String
    let file: String

    func field(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func error(_ key: String, _ message: String) -> BatchCoreError {
        BatchCoreError(.plugin, "\(file): \(field(key)): \(message)")
    }

    func has(_ key: String) -> Bool { table[key] != nil }
    func value(_ key: String) -> TOMLValueConvertible? { table[key] }

    /// Refuses keys the format does not have, which are most often typos.
    func allowOnly(_ known: [String]) throws {
        for key in table.keys.sorted() where !known.contains(key) {
            throw error(key, "unknown field\(DeclarationParser.suggestion(key, known)); expected one of \(known.joined(separator: ", "))")
        }
    }

    private func typed<T>(_ key: String, _ what: String, _ get: (TOMLValueConvertible) -> T?) throws -> T? {
        guard let raw = table[key] else { return nil }
        guard let value = get(raw) else {
            throw error(key, "expected \(what), got \(DeclarationParser.describe(raw))")
        }
        return value
    }

    func string(_ key: String) throws -> String? { try typed(key, "a string", \.string) }
    func bool(_ key: String) throws -> Bool? { try typed(key, "true or false", \.bool) }
    func int(_ key: String) throws -> Int? { try typed(key, "an integer", \.int) }

    func table(_ key: String) throws -> Fields? {
        try typed(key, "a table", \.table).map { Fields(table: $0, path: field(key), file: file) }
    }

    /// An array of tables (`[[key]]` or `key = [{…}, {…}]`).
    func tables(_ key: String) throws -> [Fields]? {
        guard let array = try typed(key, "an array of tables", \.array) else { return nil }
        return try array.enumerated().map { index, element in
            let place = "\(field(key))[\(index)]"
            guard let table = element.table else {
                throw BatchCoreError(.plugin, "\(file): \(place): expected a table such as { type = \"int\", from = \"const\", value = 0 }, got \(DeclarationParser.describe(element))")
            }
            return Fields(table: table, path: place, file: file)
        }
    }

    /// One table (`[key]`) or several (`[[key]]`).
    func tableOrTables(_ key: String) throws -> [Fields] {
        guard let raw = table[key] else { return [] }
        if let single = raw.table { return [Fields(table: single, path: field(key), file: file)] }
        guard raw.array != nil else {
            throw error(key, "expected a table ([\(key)]) or an array of tables ([[\(key)]]), got \(DeclarationParser.describe(raw))")
        }
        return try tables(key) ?? []
    }
}
