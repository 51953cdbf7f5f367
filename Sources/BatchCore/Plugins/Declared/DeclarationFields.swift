import TOMLKit

/// A TOML table being read, with its place in the file for messages.
struct DeclarationFields {
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

    func table(_ key: String) throws -> DeclarationFields? {
        try typed(key, "a table", \.table).map { DeclarationFields(table: $0, path: field(key), file: file) }
    }

    /// An array of tables (`[[key]]` or `key = [{…}, {…}]`).
    func tables(_ key: String) throws -> [DeclarationFields]? {
        guard let array = try typed(key, "an array of tables", \.array) else { return nil }
        return try array.enumerated().map { index, element in
            let place = "\(field(key))[\(index)]"
            guard let table = element.table else {
                throw BatchCoreError(.plugin, "\(file): \(place): expected a table such as { type = \"int\", from = \"const\", value = 0 }, got \(DeclarationParser.describe(element))")
            }
            return DeclarationFields(table: table, path: place, file: file)
        }
    }

    /// One table (`[key]`) or several (`[[key]]`).
    func tableOrTables(_ key: String) throws -> [DeclarationFields] {
        guard let raw = table[key] else { return [] }
        if let single = raw.table { return [DeclarationFields(table: single, path: field(key), file: file)] }
        guard raw.array != nil else {
            throw error(key, "expected a table ([\(key)]) or an array of tables ([[\(key)]]), got \(DeclarationParser.describe(raw))")
        }
        return try tables(key) ?? []
    }
}
