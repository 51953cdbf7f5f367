@testable import BatchCore
import Synchronization
import XCTest

final class SchedulerTests: XCTestCase {
    func testTenThousandDocumentsThroughNoOpProcessor() throws {
        let engine = Engine()
        let seen = Locked(Set<String>())
        let processor = ClosureProcessor("noop") { call, doc in
            seen.withLock { _ = $0.insert(doc.document.id) }
            call.setOutput(Array(doc.document.id.utf8))
            return .done
        }
        let batch = try makeBatch(engine, processor, documents: 10_000, options: ["workers": "8"])
        try batch.start()
        XCTAssertTrue(try batch.wait(timeout: 60))
        let stats = batch.stats
        XCTAssertEqual(stats.state, .finished)
        XCTAssertEqual(stats.total, 10_000)
        XCTAssertTrue(stats.totalKnown)
        XCTAssertEqual(stats.ok, 10_000)
        XCTAssertEqual(stats.failed + stats.partial + stats.skipped, 0)
        XCTAssertEqual(stats.attempts, 10_000)
        XCTAssertEqual(stats.inFlight, 0)
        XCTAssertEqual(seen.withLock { $0.count }, 10_000)
        let results = batch.finishedResults
        XCTAssertEqual(results.count, 10_000)
        XCTAssertTrue(results.allSatisfy { $0.output == Array($0.document.id.utf8) })
        XCTAssertEqual(processor.starts.load(ordering: .relaxed), 1)
        XCTAssertEqual(processor.stops.load(ordering: .relaxed), 1)
    }

    func testPerBatchAndGlobalCapsHoldAndBothBatchesProgress() throws {
        let engine = Engine()
        try engine.set("max_workers", "3")
        let probe = ConcurrencyProbe()
        let progressWhileBothRun = Locked(Set<String>())
        let a = ClosureProcessor("a") { _, _ in probe.enter("a"); sleepMs(3); probe.leave("a"); return .done }
        let b = ClosureProcessor("b") { _, _ in
            probe.enter("b"); sleepMs(3); probe.leave("b")
            return .done
        }
        let batchA = try makeBatch(engine, a, documents: 150, options: ["workers": "2"])
        let batchB = try makeBatch(engine, b, documents: 150, options: ["workers": "2"])
        try batchA.start()
        try batchB.start()
        // While both run, both must be finishing documents.
        while batchA.isRunning && batchB.isRunning {
            if batchA.stats.ok > 0 { progressWhileBothRun.withLock { _ = $0.insert("a") } }
            if batchB.stats.ok > 0 { progressWhileBothRun.withLock { _ = $0.insert("b") } }
            sleepMs(5)
        }
        XCTAssertTrue(try batchA.wait(timeout: 60))
        XCTAssertTrue(try batchB.wait(timeout: 60))
        let (peak, calls) = probe.snapshot()
        XCTAssertLessThanOrEqual(peak["a"]!, 2, "per-batch cap exceeded")
        XCTAssertLessThanOrEqual(peak["b"]!, 2, "per-batch cap exceeded")
        XCTAssertLessThanOrEqual(peak["*"]!, 3, "global cap exceeded")
        XCTAssertEqual(peak["*"], 3, "the global cap should be reached with two busy batches")
        XCTAssertEqual(calls["a"], 150)
        XCTAssertEqual(calls["b"], 150)
        XCTAssertEqual(progressWhileBothRun.withLock { $0 }, ["a", "b"])
    }

    /// Idle shared threads (another batch waits on retries) must not let a
    /// batch run more than its own cap.
    func testPerBatchCapHoldsWhileSharedThreadsIdle() throws {
        let engine = Engine()
        try engine.set("max_workers", "8")
        let probe = ConcurrencyProbe()
        let capped = ClosureProcessor("capped") { _, _ in probe.enter("capped"); sleepMs(2); probe.leave("capped"); return .done }
        let cappedBatch = try makeBatch(engine, capped, documents: 200, options: ["workers": "2"])
        let cappedDone = Atomic<Bool>(false)
        let waiting = ClosureProcessor("waiting") { call, _ in
            if cappedDone.load(ordering: .acquiring) { return .done }
            call.retryAfterMs = 200
            return .retry
        }
        let waitingBatch = try makeBatch(engine, waiting, documents: 4, options: ["workers": "4", "retry.attempts": "100"])
        try waitingBatch.start()
        XCTAssertTrue(waitUntil { waitingBatch.stats.retryWaiting == 4 })
        try cappedBatch.start()
        XCTAssertTrue(try cappedBatch.wait(timeout: 60))
        cappedDone.store(true, ordering: .releasing)
        XCTAssertTrue(try waitingBatch.wait(timeout: 60))
        XCTAssertEqual(waitingBatch.stats.ok, 4)
        let (peak, calls) = probe.snapshot()
        XCTAssertEqual(calls["capped"], 200)
        XCTAssertEqual(peak["capped"], 2, "the batch's cap of 2 workers was not its peak")
    }

    func testRoundRobinSharesWorkersBetweenBatches() throws {
        // Global cap 2, each batch may take 2: fairness gives each about one.
        let engine = Engine()
        try engine.set("max_workers", "2")
        let order = Locked([String]())
        let a = ClosureProcessor("fa") { _, _ in order.withLock { $0.append("a") }; sleepMs(1); return .done }
        let b = ClosureProcessor("fb") { _, _ in order.withLock { $0.append("b") }; sleepMs(1); return .done }
        let batchA = try makeBatch(engine, a, documents: 200, options: ["workers": "2"])
        let batchB = try makeBatch(engine, b, documents: 200, options: ["workers": "2"])
        try batchA.start()
        try batchB.start()
        XCTAssertTrue(try batchA.wait(timeout: 60))
        XCTAssertTrue(try batchB.wait(timeout: 60))
        // In the first 200 calls, neither batch may have starved the other.
        let head = order.withLock { Array($0.prefix(200)) }
        let aCount = head.filter { $0 == "a" }.count
        XCTAssertGreaterThan(aCount, 60, "batch a starved: \(aCount) of 200")
        XCTAssertLessThan(aCount, 140, "batch b starved: \(200 - aCount) of 200")
    }

    func testSequentialModeKeepsInputOrder() throws {
        let engine = Engine()
        let order = Locked([String]())
        let probe = ConcurrencyProbe()
        let p = ClosureProcessor("seq") { _, doc in
            probe.enter("s"); order.withLock { $0.append(doc.document.id) }; probe.leave("s"); return .done
        }
        let batch = try makeBatch(engine, p, documents: 500, options: ["sequential": "true", "workers": "16"])
        try batch.start()
        XCTAssertTrue(try batch.wait(timeout: 30))
        XCTAssertEqual(order.withLock { $0 }, (0..<500).map { "seq-\($0)" })
        XCTAssertEqual(probe.snapshot().peak["s"], 1)
        XCTAssertEqual(batch.stats.workers, 1)
    }

    func testSequentialModeWaitsForARetryBeforeTheNextDocument() throws {
        let engine = Engine()
        let order = Locked([String]())
        let p = ClosureProcessor("seq") { call, doc in
            order.withLock { $0.append(doc.document.id) }
            if doc.document.id == "seq-2" && doc.attempt == 1 {
                call.retryAfterMs = 200  // as a 429 would ask
                return .retry
            }
            return .done
        }
        let batch = try makeBatch(engine, p, documents: 5, options: ["sequential": "true"])
        try batch.start()
        XCTAssertTrue(try batch.wait(timeout: 30))
        XCTAssertEqual(order.withLock { $0 }, ["seq-0", "seq-1", "seq-2", "seq-2", "seq-3", "seq-4"])
    }

    func testFailingDocumentNeverStopsTheOthers() throws {
        let engine = Engine()
        let p = ClosureProcessor("flaky") { call, doc in
            if doc.document.id.hasSuffix("7") { call.error = "bad luck"; return .fail }
            return .done
        }
        let batch = try makeBatch(engine, p, documents: 100, options: ["workers": "4"])
        try batch.start()
        XCTAssertTrue(try batch.wait(timeout: 30))
        XCTAssertEqual(batch.stats.failed, 10)
        XCTAssertEqual(batch.stats.ok, 90)
        let failed = batch.finishedResults.filter { $0.status == .failed }
        XCTAssertTrue(failed.allSatisfy { $0.error == "bad luck" && $0.attempts == 1 })
    }

    func testRetryOutcomesAreRetriedThenGivenUp() throws {
        let engine = Engine()
        let calls = Locked([String: Int]())
        let p = ClosureProcessor("retry") { call, doc in
            let n = calls.withLock { c -> Int in c[doc.document.id, default: 0] += 1; return c[doc.document.id]! }
            XCTAssertEqual(doc.attempt, n)
            if doc.document.id == "retry-0" { call.error = "busy"; return .retry }  // never recovers
            if n < 2 { call.retryAfterMs = 5; call.error = "try later"; return .retry }  // recovers on the second attempt
            return .done
        }
        let batch = try makeBatch(engine, p, documents: 20,
                                  options: ["workers": "4", "retry.attempts": "3", "retry.base": "10ms", "retry.max": "20ms"])
        try batch.start()
        XCTAssertTrue(try batch.wait(timeout: 30))
        let stats = batch.stats
        XCTAssertEqual(stats.ok, 19)
        XCTAssertEqual(stats.failed, 1)
        XCTAssertEqual(stats.attempts, 19 * 2 + 3)
        XCTAssertEqual(stats.retries, 19 + 2)
        XCTAssertEqual(stats.retryWaiting, 0)
        let recovered = batch.finishedResults.filter { $0.document.id != "retry-0" }
        XCTAssertTrue(recovered.allSatisfy { $0.status == .ok && $0.error == nil && $0.attempts == 2 },
                      "a document that succeeded after a retry keeps no error")
        let gaveUp = batch.finishedResults.first { $0.document.id == "retry-0" }!
        XCTAssertEqual(gaveUp.attempts, 3)
        XCTAssertEqual(gaveUp.error, "gave up after 3 attempts: busy")
        XCTAssertEqual(gaveUp.failedStageLabel, "retry")
    }

    func testStagesFeedEachOtherAndPartialCarriesThrough() throws {
        let engine = Engine()
        let first = ClosureProcessor("first") { call, doc in
            XCTAssertNil(doc.input)
            call.setOutput(Array("hello \(doc.document.id)".utf8))
            if doc.document.id == "first-1" { call.error = "half done"; return .partial }
            return .done
        }
        let second = ClosureProcessor("second") { call, doc in
            XCTAssertEqual(doc.stage, 1)
            call.setOutput(Array(String(decoding: doc.input!, as: UTF8.self).uppercased().utf8))
            return .done
        }
        try engine.register(first)
        try engine.register(second)
        let batch = Batch(engine: engine)
        try batch.addStage(processor: "first")
        try batch.addStage(processor: "second")
        try batch.add(ArraySource(count: 3, prefix: "first"))
        try batch.start()
        XCTAssertTrue(try batch.wait(timeout: 30))
        let byID = Dictionary(uniqueKeysWithValues: batch.finishedResults.map { ($0.document.id, $0) })
        XCTAssertEqual(byID["first-0"]?.output, Array("HELLO FIRST-0".utf8))
        XCTAssertEqual(byID["first-0"]?.status, .ok)
        XCTAssertEqual(byID["first-1"]?.status, .partial)
        XCTAssertEqual(byID["first-1"]?.error, "half done")
        XCTAssertEqual(byID["first-1"]?.attempts, 1)  // two stages, no retry: one attempt
    }

    func testGracefulCancelLeavesUndispatchedDocumentsPending() throws {
        let engine = Engine()
        let p = ClosureProcessor("slow") { _, _ in sleepMs(2); return .done }
        let batch = try makeBatch(engine, p, documents: 5_000, options: ["workers": "2"])
        try batch.start()
        XCTAssertTrue(waitUntil { batch.stats.ok > 0 })
        batch.cancel()
        XCTAssertTrue(try batch.wait(timeout: 30))
        let stats = batch.stats
        XCTAssertEqual(stats.state, .cancelled)
        XCTAssertGreaterThan(stats.ok, 0)
        XCTAssertLessThan(stats.ok, 5_000)
        XCTAssertEqual(stats.failed, 0)
        XCTAssertEqual(stats.inFlight, 0)
    }

    func testHardCancelIsSeenByInFlightCalls() throws {
        let engine = Engine()
        let sawCancel = Atomic<Int>(0)
        let entered = Atomic<Int>(0)
        let p = ClosureProcessor("long") { call, _ in
            entered.add(1, ordering: .relaxed)
            for _ in 0..<60_000 where !call.isCancelled { sleepMs(1) }
            if call.isCancelled { sawCancel.add(1, ordering: .relaxed) }
            return .retry
        }
        let batch = try makeBatch(engine, p, documents: 4, options: ["workers": "2"])
        try batch.start()
        XCTAssertTrue(waitUntil { entered.load(ordering: .relaxed) == 2 })
        batch.cancel(hard: true)
        XCTAssertTrue(try batch.wait(timeout: 10))
        XCTAssertEqual(sawCancel.load(ordering: .relaxed), 2)
        XCTAssertEqual(batch.stats.state, .cancelled)
        XCTAssertEqual(batch.stats.failed, 0, "cancelled documents stay pending, not failed")
    }

    func testWaitTimesOutWhileRunning() throws {
        let engine = Engine()
        let p = ClosureProcessor("sleepy") { _, _ in sleepMs(200); return .done }
        let batch = try makeBatch(engine, p, documents: 2, options: ["workers": "1"])
        try batch.start()
        XCTAssertFalse(try batch.wait(timeout: 0.05))
        XCTAssertTrue(try batch.wait(timeout: 10))
    }

    func testEventsArriveInOrderAndHandlerMayCallBack() throws {
        let engine = Engine()
        let p = ClosureProcessor("ev") { _, _ in .done }
        let batch = try makeBatch(engine, p, documents: 300, options: ["workers": "4", "progress.interval": "10ms"])
        let log = Locked([String]())
        let waitError = Locked<BatchCoreError?>(nil)
        try batch.onEvent { [unowned batch] event in
            switch event {
            case .documentFinished: log.withLock { $0.append("doc") }
            case .progress: _ = batch.stats
            case .finished:
                log.withLock { $0.append("end") }
                do { _ = try batch.wait(timeout: 1) } catch let e as BatchCoreError { waitError.withLock { $0 = e } } catch {}
            case .log, .notice: break
            }
        }
        try batch.start()
        XCTAssertTrue(try batch.wait(timeout: 30))
        let events = log.withLock { $0 }
        XCTAssertEqual(events.filter { $0 == "doc" }.count, 300)
        XCTAssertEqual(events.last, "end")
        XCTAssertEqual(waitError.withLock { $0?.code }, .state)
    }

    func testEngineThreadsAreReleasedAfterBatches() throws {
        // Counted against the threads before: engines other tests leaked keep theirs.
        let before = threadCount()
        let engine = Engine()
        let p = ClosureProcessor("t") { _, _ in .done }
        for _ in 0..<20 {
            let batch = try makeBatch(engine, p, documents: 50, options: ["workers": "8"])
            try batch.start()
            XCTAssertTrue(try batch.wait(timeout: 10))
        }
        // Idle workers wait for the next batch: 8 of them, not 8 per batch.
        XCTAssertTrue(waitUntil { threadCount() - before <= 8 }, "worker threads leak across batches: \(threadCount() - before)")
        engine.shutdown()
        XCTAssertTrue(waitUntil { threadCount() <= before }, "threads left after shutdown: \(threadCount() - before)")
    }

    private func threadCount() -> Int {
        guard let f = fopen("/proc/self/status", "r") else { return 0 }
        defer { fclose(f) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, 256, f) != nil {
            let s = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if s.hasPrefix("Threads:") { return Int(s.dropFirst(8).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0 }
        }
        return 0
    }
}
