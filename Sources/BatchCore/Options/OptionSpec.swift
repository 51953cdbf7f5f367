/// One option: its key, default, help line and parser. The same spec serves
/// the CLI, `bc_batch_set`/`bc_engine_set` and Python keyword arguments.
public struct OptionSpec<Target>: Sendable {
    public let key: String
    public let defaultValue: String
    public let help: String
    let apply: @Sendable (inout Target, String) throws -> Void

    public init(_ key: String, default defaultValue: String, _ help: String,
                apply: @escaping @Sendable (inout Target, String) throws -> Void) {
        self.key = key
        self.defaultValue = defaultValue
        self.help = help
        self.apply = apply
    }
}

/// A list of option specs for one target type.
public struct OptionTable<Target>: Sendable {
    public let specs: [OptionSpec<Target>]
    let kind: String

    public init(kind: String, _ specs: [OptionSpec<Target>]) {
        self.kind = kind
        self.specs = specs
    }

    public func spec(_ key: String) -> OptionSpec<Target>? {
        specs.first { $0.key == key }
    }

    /// Parses `value` for `key` and stores it in `target`, or throws an error
    /// naming the key, the value and what was expected.
    public func set(_ key: String, _ value: String, on target: inout Target) throws {
        guard let spec = spec(key) else {
            throw unknownKey(key, known: specs.map(\.key), kind: kind)
        }
        try spec.apply(&target, value)
    }
}

/// "unknown batch option 'wrkers' (did you mean 'workers'?); known options: …"
func unknownKey(_ key: String, known: [String], kind: String) -> BatchCoreError {
    var message = "unknown \(kind) option '\(key)'"
    if let near = known.min(by: { editDistance($0, key) < editDistance($1, key) }),
       editDistance(near, key) <= max(2, key.count / 3) {
        message += " (did you mean '\(near)'?)"
    }
    message += "; known options: " + (known.isEmpty ? "none" : known.joined(separator: ", "))
    return BatchCoreError(.option, message)
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var row = Array(0...b.count)
    for i in 1...a.count {
        var previous = row[0]
        row[0] = i
        for j in 1...b.count {
            let saved = row[j]
            row[j] = a[i - 1] == b[j - 1] ? previous : 1 + min(previous, row[j], row[j - 1])
            previous = saved
        }
    }
    return row[b.count]
}
