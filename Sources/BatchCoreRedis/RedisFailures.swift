import BatchCore

/// A batch's failed documents grouped by stage and error, counted as their
/// results are committed (and uncounted when they run again), so a dashboard
/// reads the groups from two small hashes instead of scanning every result.
/// Bounded: `maxGroups` groups, `maxExamples` ids each; past them, new errors
/// count in one group of other errors.
public struct RedisFailures: Sendable {
    public struct Group: Sendable, Equatable {
        /// The failed stage's label; nil when the failure was outside any stage.
        public let stage: String?
        /// The error, cut to `maxErrorCharacters`; nil for the group of other errors.
        public let error: String?
        public let count: Int
        public let examples: [String]
    }

    public static let maxGroups = 50
    public static let maxExamples = 3
    public static let maxErrorCharacters = 500

    public let keys: RedisKeys

    public init(batch: String) { keys = RedisKeys(batch: batch) }

    private var scriptKeys: [String] { [keys.failureGroups, keys.failureExamples, keys.failedIds, keys.failedOrder] }

    /// Counts newly committed failures, each `(id, stage, error)` once.
    public func record(_ failures: [(id: String, stage: String?, error: String)], on connection: RedisConnection) throws {
        guard !failures.isEmpty else { return }
        let pairs = failures.flatMap { [$0.id, Self.group(stage: $0.stage, error: $0.error)] as [any RedisArgument] }
        _ = try FailureScripts.record.run(on: connection, keys: scriptKeys, arguments: [Self.maxGroups, Self.maxExamples] + pairs)
    }

    /// Uncounts documents put back to run again.
    public func forget(_ ids: [String], on connection: RedisConnection) throws {
        guard !ids.isEmpty else { return }
        _ = try FailureScripts.forget.run(on: connection, keys: scriptKeys, arguments: ids)
    }

    /// The groups, largest first.
    public func groups(on connection: RedisConnection) throws -> [Group] {
        let replies = try connection.pipeline([["HGETALL", keys.failureGroups], ["HGETALL", keys.failureExamples]])
        try check(replies)
        let examples = replies[1].fields
        return replies[0].fields.map { field, count in
            let (stage, error) = Self.split(field)
            let ids = Self.strings(examples[field, default: "[]"])
            return Group(stage: stage, error: error, count: Int(count) ?? 0, examples: ids)
        }.sorted { ($0.count, $1.stage ?? "", $1.error ?? "") > ($1.count, $0.stage ?? "", $0.error ?? "") }
    }

    /// The ids of the failed documents in one group (as `groups` gives it).
    public func ids(stage: String?, error: String?, on connection: RedisConnection) throws -> [String] {
        let wanted = error.map { Self.group(stage: stage, error: $0) } ?? ""
        var ids: [String] = []
        var cursor = "0"
        repeat {
            let reply = try connection.command("HSCAN", keys.failedIds, cursor, "COUNT", 1000)
            guard let page = reply.array, page.count == 2, let next = page[0].string, let flat = page[1].array else {
                throw RedisError(.unexpectedReply, "redis: expected HSCAN's [cursor, fields], got \(reply)")
            }
            for i in stride(from: 0, to: flat.count - 1, by: 2) where flat[i + 1].string == wanted {
                if let id = flat[i].string { ids.append(id) }
            }
            cursor = next
        } while cursor != "0"
        return Array(Set(ids))
    }

    /// A group's field: the stage label (empty outside any stage), a unit separator, the error.
    static func group(stage: String?, error: String) -> String {
        (stage ?? "") + "\u{1F}" + String(error.prefix(maxErrorCharacters))
    }

    private static func split(_ field: String) -> (stage: String?, error: String?) {
        guard let separator = field.firstIndex(of: "\u{1F}") else { return (nil, nil) }
        let stage = String(field[..<separator])
        return (stage.isEmpty ? nil : stage, String(field[field.index(after: separator)...]))
    }

    /// The ids of a JSON array (as Lua's cjson wrote them).
    private static func strings(_ json: String) -> [String] {
        guard case .array(let items)? = try? JSONValue.parse(Array(json.utf8)) else { return [] }
        return items.compactMap { if case .string(let id) = $0 { id } else { nil } }
    }
}
