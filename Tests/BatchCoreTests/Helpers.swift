@testable import BatchCore
import Glibc
import Synchronization

/// Documents held in memory.
struct ArraySource: DocumentSource {
    let documents: [Document]
    init(count: Int, prefix: String = "doc") {
        documents = (0..<count).map { Document(id: "\(prefix)-\($0)", path: nil) }
    }
    var knownCount: Int? { documents.count }
    var identity: String { "memory" }
    func makeIterator() throws -> any DocumentIterator { Iterator(documents) }

    final class Iterator: DocumentIterator {
        var rest: ArraySlice<Document>
        init(_ documents: [Document]) { rest = documents[...] }
        func next() throws -> Document? { rest.popFirst() }
    }
}

/// A processor defined by a closure.
final class ClosureProcessor: Processor, ProcessorInstance, @unchecked Sendable {
    let info: ProcessorInfo
    let body: @Sendable (CallContext, DocumentInput) -> Outcome
    let starts = Atomic<Int>(0)
    let stops = Atomic<Int>(0)

    init(_ name: String, options: [StageOption]? = nil, _ body: @escaping @Sendable (CallContext, DocumentInput) -> Outcome) {
        info = ProcessorInfo(name: name, version: "1", description: "test", kind: .host, options: options)
        self.body = body
    }

    func start(config: StageConfig) throws -> ProcessorInstance {
        starts.add(1, ordering: .relaxed)
        return self
    }
    func process(_ call: CallContext, _ doc: DocumentInput) -> Outcome { body(call, doc) }
    func stop() { stops.add(1, ordering: .relaxed) }
}

/// Tracks how many calls run at once, overall and per key.
final class ConcurrencyProbe: @unchecked Sendable {
    private let lock = Monitor()
    private var current: [String: Int] = [:]
    private(set) var peak: [String: Int] = [:]
    private(set) var calls: [String: Int] = [:]

    func enter(_ key: String) {
        lock.withLock {
            for k in [key, "*"] {
                current[k, default: 0] += 1
                peak[k] = max(peak[k, default: 0], current[k]!)
            }
            calls[key, default: 0] += 1
        }
    }
    func leave(_ key: String) {
        lock.withLock { for k in [key, "*"] { current[k, default: 0] -= 1 } }
    }
    func snapshot() -> (peak: [String: Int], calls: [String: Int]) { lock.withLock { (peak, calls) } }
}

func sleepMs(_ ms: Double) { usleep(UInt32(ms * 1000)) }

/// Waits until `condition` holds, checking every millisecond; false when
/// `timeout` seconds (generous: the machine may be loaded) ran out first.
func waitUntil(timeout: Double = 30, _ condition: () -> Bool) -> Bool {
    let deadline = monotonicNanos() + UInt64(timeout * 1e9)
    while !condition() {
        if monotonicNanos() > deadline { return false }
        sleepMs(1)
    }
    return true
}

func makeBatch(_ engine: Engine, _ processor: ClosureProcessor, documents: Int, options: [String: String] = [:]) throws -> Batch {
    if (try? engine.processor(named: processor.info.name)) == nil { try engine.register(processor) }
    let batch = Batch(engine: engine)
    try batch.addStage(processor: processor.info.name)
    try batch.add(ArraySource(count: documents, prefix: processor.info.name))
    for (k, v) in options { try batch.set(k, v) }
    return batch
}
