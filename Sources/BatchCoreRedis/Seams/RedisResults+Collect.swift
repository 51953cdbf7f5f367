extension RedisResults {
    /// Calls `body` with each committed result once (HSCAN may repeat a field:
    /// repeats are skipped), a page at a time.
    public func scan(on connection: RedisConnection, _ body: ([UInt8]) throws -> Void) throws {
        var cursor = "0"
        var seen = Set<[UInt8]>()
        repeat {
            let reply = try connection.command("HSCAN", keys.results, cursor, "COUNT", 1000)
            guard let page = reply.array, page.count == 2, let next = page[0].string, let flat = page[1].array else {
                throw RedisError(.unexpectedReply, "redis: expected HSCAN's [cursor, fields], got \(reply)")
            }
            for pair in stride(from: 0, to: flat.count - 1, by: 2) {
                guard let id = flat[pair].bytes, let value = flat[pair + 1].bytes, seen.insert(id).inserted else { continue }
                try body(value)
            }
            cursor = next
        } while cursor != "0"
    }
}

extension RedisResults {
    /// Removes committed results so their documents can be committed again
    /// (`retry-failed`), uncounting them from `status` and listing them as
    /// unfinished again, in one transaction.
    public func forget(_ ids: [String], status: String, on connection: RedisConnection) throws {
        guard !ids.isEmpty else { return }
        let replies = try connection.pipeline([["MULTI"], ["HDEL", keys.results] + ids.map { $0 as any RedisArgument },
                                               ["HINCRBY", keys.counts, status, -ids.count],
                                               ["ZADD", keys.unfinished] + ids.flatMap { [0, $0] as [any RedisArgument] }, ["EXEC"]])
        try check(replies + (replies.last?.array ?? []))
    }
}

extension RedisResults {
    /// Calls `body` with the output line of each committed result, as `run`
    /// writes it (only the failed ones with `onlyFailed`).
    public func lines(onlyFailed: Bool, on connection: RedisConnection, _ body: (ArraySlice<UInt8>) throws -> Void) throws {
        try scan(on: connection) { bytes in
            let stored = try StoredLine.decode(bytes)
            if !onlyFailed || stored.status == .failed { try body(stored.line) }
        }
    }
}
