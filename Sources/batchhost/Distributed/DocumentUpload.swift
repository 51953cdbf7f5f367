import BatchCore
import BatchCoreRedis
import Glibc

/// Writes a batch's documents to its stream in pipelined chunks, reading the
/// sources as it goes: the input is never all in memory. Relative paths are
/// made absolute, for workers started in other directories.
struct DocumentUpload {
    let batch: RedisBatch
    let lease: Int64
    static let chunk = 2000
    private let directory = currentDirectory()

    /// Returns how many documents were written.
    func upload(_ sources: [any DocumentSource], on connection: RedisConnection) throws -> Int {
        let queue = RedisWorkQueue(batch: batch.id, lease: .milliseconds(lease))
        var pending: [Job] = []
        var total = 0
        for source in sources {
            let documents = try source.makeIterator()
            while var document = try documents.next() {
                if let path = document.path, !path.hasPrefix("/") { document.path = directory + "/" + path }
                pending.append(Job(document: document))
                if pending.count == Self.chunk {
                    try queue.add(jobs: pending, on: connection)
                    total += pending.count
                    pending.removeAll(keepingCapacity: true)
                }
            }
        }
        try queue.add(jobs: pending, on: connection)
        return total + pending.count
    }
}

private func currentDirectory() -> String {
    guard let cwd = getcwd(nil, 0) else { return "." }
    defer { free(cwd) }
    return FileNameBytes.string(cString: cwd)
}
