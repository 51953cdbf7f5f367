@testable import BatchCore
import Glibc
import Synchronization
import XCTest

/// A batch run through in-memory seams — none SQLite, none the local
/// implementations' — shows the engine reaches its queue, results, limits
/// and budget only through them.
final class SeamsTests: XCTestCase {
    func testABatchRunsThroughInMemorySeams() throws {
        let dir = try makeTempDir()
        defer { removeTree(dir) }
        let same = "same content"
        let documents = [
            Document(id: "plain", path: try write(dir, "plain", "p")),
            Document(id: "flaky", path: try write(dir, "flaky", "f")),
            Document(id: "busy", path: try write(dir, "busy", "b")),
            Document(id: "async", path: try write(dir, "async", "a")),
            Document(id: "copy", path: try write(dir, "copy", same)),
            Document(id: "done-before", path: try write(dir, "done-before", "d")),
        ]
        let queue = MemoryQueue(documents, leaseRenewal: 0.005)
        let store = MemoryStore()
        store.seed(StoredResult(id: "earlier", status: .ok, output: Array("from earlier".utf8), outputIsJSON: false),
                   hash: DedupeIndex.contentHash(of: documents[4])!)
        store.seedFinished("done-before")
        let limiter = MemoryLimiter(holdFirst: true)
        let ledger = MemoryLedger(allow: 100)

        let tries = Locked([String: Int]())
        let processor = ClosureProcessor("seams") { call, doc in
            let attempt = tries.withLock { t -> Int in
                t[doc.document.id, default: 0] += 1
                return t[doc.document.id]!
            }
            switch doc.document.id {
            case "plain":
                // Runs until the lease keeper has renewed this job's lease.
                XCTAssertTrue(waitUntil { queue.renewed.contains("plain") })
                call.setOutput(Array("plain done".utf8))
                return .done
            case "flaky" where attempt == 1:
                return .retry
            case "busy" where attempt == 1:
                call.retryAfterMs = 10
                return .retry
            case "async":
                startThread(name: "finisher") {
                    call.setOutput(Array("async done".utf8))
                    call.finish(.done)
                }
                return .pending
            default:
                call.setOutput(Array("\(doc.document.id) done".utf8))
                call.addUsage(input: 7, output: 3)
                return .done
            }
        }
        let engine = Engine()
        try engine.register(processor)
        let batch = Batch(engine: engine)
        try batch.addStage(processor: "seams")
        try batch.add(ArraySource(documents: documents))
        for (key, value) in ["workers": "3", "dedupe": "true", "retry.base": "10ms", "retry.max": "20ms"] {
            try batch.set(key, value)
        }
        try batch.start(seams: BatchSeams(queue: queue, store: store, limiter: limiter, budget: ledger))
        XCTAssertTrue(try batch.wait(timeout: 60))

        let stats = batch.stats
        XCTAssertEqual(stats.state, .finished)
        XCTAssertEqual(stats.ok, 6)
        XCTAssertEqual(stats.failed, 0)
        XCTAssertEqual(stats.resumed, 1, "the store said done-before is finished")
        XCTAssertEqual(stats.deduplicated, 1)
        XCTAssertEqual(stats.retries, 2, "flaky and busy each retried once")
        XCTAssertEqual(stats.rateLimitPauses, 1, "busy's Retry-After paused the limiter")
        XCTAssertEqual(stats.inFlight, 0)

        // Results: committed to the store, never twice; the copy lent its result.
        let committed = store.committed
        XCTAssertEqual(Set(committed.map(\.document.id)), ["plain", "flaky", "busy", "async", "copy"])
        XCTAssertEqual(committed.count, 5)
        let byId = Dictionary(uniqueKeysWithValues: committed.map { ($0.document.id, $0) })
        XCTAssertEqual(byId["async"]?.output, Array("async done".utf8))
        XCTAssertEqual(byId["copy"]?.duplicateOf, "earlier")
        XCTAssertEqual(byId["copy"]?.output, Array("from earlier".utf8))
        XCTAssertEqual(byId["flaky"]?.attempts, 2)
        XCTAssertEqual(store.runs, ["begin", "end finished"])

        // The queue: every job acknowledged once; retries and waits given back.
        XCTAssertEqual(queue.acknowledged.sorted(), documents.map(\.id).sorted())
        XCTAssertGreaterThanOrEqual(queue.givenBack, 3, "flaky, busy and the job the limiter held")
        XCTAssertGreaterThan(queue.claimsOfSeveral, 0, "the queue handed out several jobs at once")

        // The limiter held the first call back once and heard every call's usage.
        XCTAssertEqual(limiter.pauses, 1)
        XCTAssertGreaterThanOrEqual(limiter.settled, 6)
        // The ledger: one reservation per new document run, each committed.
        XCTAssertEqual(ledger.state.withLock { $0.committed }, 4)
        XCTAssertEqual(ledger.state.withLock { $0.open }, 0)
    }

    func testABudgetLedgerThatRefusesStopsTheBatch() throws {
        let documents = (0..<10).map { Document(id: "doc-\($0)", path: nil) }
        let ledger = MemoryLedger(allow: 3)
        let processor = ClosureProcessor("budgeted") { call, _ in
            call.setOutput(Array("ok".utf8))
            return .done
        }
        let engine = Engine()
        try engine.register(processor)
        let batch = Batch(engine: engine)
        try batch.addStage(processor: "budgeted")
        try batch.add(ArraySource(documents: documents))
        try batch.set("sequential", "true")
        let queue = MemoryQueue(documents)
        try batch.start(seams: BatchSeams(queue: queue, store: MemoryStore(), budget: ledger))
        XCTAssertTrue(try batch.wait(timeout: 60))
        let stats = batch.stats
        XCTAssertTrue(stats.budgetReached)
        XCTAssertEqual(stats.ok, 3)
        XCTAssertEqual(ledger.state.withLock { $0.committed }, 3)
        XCTAssertEqual(ledger.state.withLock { $0.open }, 0)
        // What was claimed and not run went back to the queue: none is lost.
        XCTAssertEqual(queue.acknowledged.count + queue.waiting, 10)
    }

    // MARK: Helpers

    private func makeTempDir() throws -> String {
        var template = Array("/tmp/seams-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw BatchCoreError(.io, "mkdtemp") }
        return String(cString: made)
    }

    private func write(_ dir: String, _ name: String, _ content: String) throws -> String {
        let path = "\(dir)/\(name).txt"
        guard let file = fopen(path, "w") else { throw BatchCoreError(.io, "cannot write \(path)") }
        fputs(content, file)
        fclose(file)
        return path
    }

    private func removeTree(_ dir: String) {
        _ = try? ChildProcess.run(ChildProcess.Request(argv: ["rm", "-rf", dir]))
    }
}

extension ArraySource {
    init(documents: [Document]) { self.documents = documents }
}

/// Jobs in memory, handed out up to three at a time, with leases.
private final class MemoryQueue: WorkQueue, @unchecked Sendable {  // @unchecked: state under `lock`
    private let lock = Monitor()
    private var fresh: [Document]
    private var delayed: [(due: UInt64, job: ClaimedJob)] = []
    private var nextLease: UInt64 = 1
    private var acks: [String] = []
    private var givenBackCount = 0
    private var severalCount = 0
    private var renewals: Set<String> = []
    var acknowledged: [String] { lock.withLock { acks } }
    var givenBack: Int { lock.withLock { givenBackCount } }
    var claimsOfSeveral: Int { lock.withLock { severalCount } }
    var renewed: Set<String> { lock.withLock { renewals } }
    let claimSize = 3
    let leaseRenewal: Double?

    init(_ documents: [Document], leaseRenewal: Double? = nil) {
        fresh = documents.reversed()
        self.leaseRenewal = leaseRenewal
    }

    func claim(upTo count: Int, now: UInt64) -> Claim {
        lock.withLock {
            var jobs: [ClaimedJob] = []
            while jobs.count < count, let index = delayed.firstIndex(where: { $0.due <= now }) {
                jobs.append(delayed.remove(at: index).job)
            }
            while jobs.count < count, let document = fresh.popLast() {
                nextLease += 1
                jobs.append(ClaimedJob(job: Job(document: document), lease: nextLease, isNew: true))
            }
            if jobs.count > 1 { severalCount += 1 }
            if !jobs.isEmpty { return .jobs(jobs) }
            if let due = delayed.map(\.due).min() { return .wait(until: due) }
            return .drained
        }
    }

    func acknowledge(_ job: ClaimedJob) {
        lock.withLock { acks.append(job.job.document.id) }
    }

    func giveBack(_ job: ClaimedJob, notBefore: UInt64) {
        lock.withLock {
            givenBackCount += 1
            delayed.append((notBefore, job))
        }
    }

    func renew(_ jobs: [ClaimedJob]) -> [ClaimedJob] {
        lock.withLock { renewals.formUnion(jobs.map(\.job.document.id)) }
        return jobs
    }

    /// Jobs not claimed, or given back.
    var waiting: Int { lock.withLock { fresh.count + delayed.count } }
}

/// Results in a dictionary.
private final class MemoryStore: ResultStore, @unchecked Sendable {  // @unchecked: state under `lock`
    private let lock = Monitor()
    private var finished: [String: DocumentStatus] = [:]
    private var byHash: [String: StoredResult] = [:]
    private var commits: [DocumentResult] = []
    private var runRecords: [String] = []
    var committed: [DocumentResult] { lock.withLock { commits } }
    var runs: [String] { lock.withLock { runRecords } }

    func seed(_ result: StoredResult, hash: String) { lock.withLock { byHash[hash] = result } }
    func seedFinished(_ id: String) { lock.withLock { finished[id] = .ok } }

    func status(of id: String) -> DocumentStatus? { lock.withLock { finished[id] } }
    func firstResult(withHash hash: String) -> StoredResult? { lock.withLock { byHash[hash] } }
    var spentBefore: (cost: Double, documents: UInt64) { (0, 0) }
    func beginRun() throws { lock.withLock { runRecords.append("begin") } }
    func endRun(state: String) throws { lock.withLock { runRecords.append("end \(state)") } }
    func close() {}

    func commit(_ group: [DocumentResult], output: OutputPosition?) throws {
        lock.withLock {
            for result in group where finished[result.document.id] == nil {  // first commit wins
                finished[result.document.id] = result.status
                commits.append(result)
            }
        }
    }
}

/// Holds the first call back once (a rate-limit wait), then lets all go.
private final class MemoryLimiter: Limiter, @unchecked Sendable {  // @unchecked: state under `lock`
    private let lock = Monitor()
    private var holdFirst: Bool
    private var pausedUntil: UInt64 = 0
    private var pauseCount = 0
    private var settleCount = 0
    var pauses: Int { lock.withLock { pauseCount } }
    var settled: Int { lock.withLock { settleCount } }
    let requests: Rate? = nil

    init(holdFirst: Bool) { self.holdFirst = holdFirst }

    func acquire(now: UInt64, estimate: Double) -> UInt64? {
        lock.withLock {
            if now < pausedUntil { return pausedUntil }
            guard holdFirst else { return nil }
            holdFirst = false
            return now + 20_000_000
        }
    }

    func pause(until: UInt64) { lock.withLock { pauseCount += 1; pausedUntil = max(pausedUntil, until) } }
    func settle(estimate: Double, actual: Double) { lock.withLock { settleCount += 1 } }
}

/// Allows a number of documents, whatever they cost.
private final class MemoryLedger: BudgetLedger {
    struct State { var reserved = 0; var open = 0; var committed = 0 }
    let state = Locked(State())
    let allowed: Int
    let limit = 1.0

    init(allow: Int) { allowed = allow }

    var spent: Double { 0 }

    func reserve(estimate: () -> Double) -> BudgetReservation? {
        state.withLock { s in
            guard s.reserved < allowed else { return nil }
            s.reserved += 1
            s.open += 1
            return BudgetReservation(id: UInt64(s.reserved), amount: 0)
        }
    }

    func commit(_ reservation: BudgetReservation, cost: Double) {
        state.withLock { s in s.open -= 1; s.committed += 1 }
    }

    func release(_ reservation: BudgetReservation) { state.withLock { $0.open -= 1 } }
}
