import BatchCore
import BatchCoreRedis

/// Writes a batch's documents to its stream in pipelined chunks, reading the
/// sources as it goes: the input is never all in memory.
struct DocumentUpload {
    let batch: RedisBatch
    let lease: Int64
    static let chunk = 2000

    /// Returns how many documents were written.
    func upload(_ sources: [any DocumentSource], on connection: RedisConnection) throws -> Int {
        let queue = RedisWorkQueue(batch: batch.id, lease: .milliseconds(lease))
        var pending: [Job] = []
        var total = 0
        for source in sources {
            let documents = try source.makeIterator()
            while let document = try documents.next() {
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
