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

    /// Returns how many documents were written. An id given twice is refused
    /// (its second result could never be committed), checked on the server in
    /// a set of ids dropped afterwards, unless the sources cannot repeat one.
    func upload(_ sources: [any DocumentSource], on connection: RedisConnection) throws -> Int {
        let checkIds = sources.count > 1 || sources.contains { !$0.idsAreUnique }
        defer { if checkIds { _ = try? connection.command("DEL", ids) } }
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

    private var ids: String { batch.keys.submittedIds }

    private func add(_ jobs: [Job], checkIds: Bool, source: any DocumentSource, on connection: RedisConnection) throws {
        guard !jobs.isEmpty else { return }
        if checkIds {
            let added = try connection.pipeline(jobs.map { ["SADD", ids, $0.document.id] })
            if let repeated = zip(jobs, added).first(where: { $0.1.integer == 0 }) {
                throw BatchCoreError(.input, "the id '\(repeated.0.document.id)' is given twice (again in \(source.identity)): every document needs its own id; nothing was submitted")
            }
        }
        try RedisWorkQueue(batch: batch.id, lease: .milliseconds(lease)).add(jobs: jobs, on: connection)
    }
}

private func currentDirectory() -> String {
    guard let cwd = getcwd(nil, 0) else { return "." }
    defer { free(cwd) }
    return FileNameBytes.string(cString: cwd)
}
