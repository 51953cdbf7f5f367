import BatchCore
import Glibc

/// Writes a batch's documents to its stream in pipelined chunks, reading the
/// sources as it goes: the input is never all in memory. Relative paths are
/// made absolute, for workers started in other directories.
struct DocumentUpload {
    let batch: RedisBatch
    let lease: Int64
    static let chunk = 2000
    private let directory = currentDirectory()

    /// Returns how many documents were written, each listed in the batch's
    /// ids (all, and unfinished). An id given twice is refused (its second
    /// result could never be committed), checked against the ids listed so
    /// far, unless the sources cannot repeat one.
    func upload(_ sources: [any DocumentSource], on connection: RedisConnection) throws -> Int {
        let checkIds = sources.count > 1 || sources.contains { !$0.idsAreUnique }
        var pending: [Job] = []
        var total = 0
        for source in sources {
            let documents = try source.makeIterator()
            while var document = try documents.next() {
                if let path = document.path, !path.hasPrefix("/") { document.path = directory + "/" + path }
                pending.append(Job(document: document))
                if pending.count == Self.chunk {
                    try add(pending, checkIds: checkIds, source: source, on: connection)
                    total += pending.count
                    pending.removeAll(keepingCapacity: true)
                }
            }
            try add(pending, checkIds: checkIds, source: source, on: connection)
            total += pending.count
            pending.removeAll(keepingCapacity: true)
        }
        return total
    }

    private func add(_ jobs: [Job], checkIds: Bool, source: any DocumentSource, on connection: RedisConnection) throws {
        guard !jobs.isEmpty else { return }
        let ids = jobs.map(\.document.id)
        if checkIds, let repeated = try firstRepeated(ids, on: connection) {
            throw BatchCoreError(.input, "the id '\(repeated)' is given twice (again in \(source.identity)): every document needs its own id; nothing was submitted")
        }
        let members = ids.flatMap { [0, $0] as [any RedisArgument] }
        try check(try connection.pipeline([["ZADD", batch.keys.documents] + members, ["ZADD", batch.keys.unfinished] + members]))
        try RedisWorkQueue(batch: batch.id, lease: .milliseconds(lease)).add(jobs: jobs, on: connection)
    }

    /// An id given twice within `ids`, or one already listed.
    private func firstRepeated(_ ids: [String], on connection: RedisConnection) throws -> String? {
        var seen = Set<String>()
        if let twice = ids.first(where: { !seen.insert($0).inserted }) { return twice }
        let scores = try connection.command(["ZMSCORE", batch.keys.documents] + ids.map { $0 as any RedisArgument })
        return zip(ids, try scores.expect(scores.array, "a score or nil per id")).first { $0.1 != .null }?.0
    }
}

private func currentDirectory() -> String {
    guard let cwd = getcwd(nil, 0) else { return "." }
    defer { free(cwd) }
    return FileNameBytes.string(cString: cwd)
}
