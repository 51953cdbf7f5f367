@testable import BatchCore
import Glibc
import Synchronization
import XCTest

/// Call handles outlived by a processor, waiting for a batch from inside
/// it, and a hard cancel with a slow event handler.
final class CallLifetimeTests: XCTestCase {
    func testHandlesKeptPastTheirCallAreRefusedWhileOtherCallsReuseTheirSlots() throws {
        let engine = Engine()
        let ended = Locked([OpaquePointer]())
        let stop = Atomic<Bool>(false)
        let staleAnswers = Locked([Int32: Int]())
        let processor = ClosureProcessor("keeper") { call, doc in
            let handle = call.withHandle { handle in
                _ = HostAPI.setOutput(handle, doc.document.id, doc.document.id.utf8.count)
                _ = HostAPI.addUsage(handle, 1, 1)
                return handle
            }
            ended.withLock { $0.append(handle) }  // its call is over
            return .done
        }
        // Meanwhile another thread keeps using the ended handles.
        let user = TestThread {
            while !stop.load(ordering: .relaxed) {
                guard let handle = ended.withLock({ $0.popLast() }) else { sched_yield(); continue }
                let answers = [HostAPI.setOutput(handle, "stale", 5), HostAPI.addUsage(handle, 1000, 1000),
                               HostAPI.addUnits(handle, 7), HostAPI.isCancelled(handle)]
                staleAnswers.withLock { for a in answers { $0[a, default: 0] += 1 } }
            }
        }
        let batch = try makeBatch(engine, processor, documents: 2000, options: ["workers": "4"])
        try batch.start()
        XCTAssertTrue(try batch.wait(timeout: 120))
        stop.store(true, ordering: .relaxed)
        user.join()

        XCTAssertEqual(batch.stats.ok, 2000)
        XCTAssertEqual(batch.stats.inputTokens, 2000, "a stale handle added usage to another document")
        XCTAssertEqual(batch.stats.units, 0)
        for result in batch.finishedResults {
            XCTAssertEqual(result.output.map { String(decoding: $0, as: UTF8.self) }, result.document.id)
        }
        let answers = staleAnswers.withLock { $0 }
        XCTAssertEqual(Set(answers.keys), [BatchCoreError.Code.state.rawValue], "\(answers)")
    }

    func testCountsSaturateInsteadOfWrapping() {
        let call = CallContext(cancelFlag: CancelFlag())
        call.withHandle { handle in
            XCTAssertEqual(HostAPI.addUsage(handle, .max, 1), 0)
            XCTAssertEqual(HostAPI.addUsage(handle, .max, .max), 0)
        }
        XCTAssertEqual([call.inputTokens, call.outputTokens], [Count.limit, Count.limit])
        XCTAssertEqual(Count.sum(Count.limit - 1, 1), Count.limit)
        XCTAssertEqual(Count.sum(UInt64(2), 3), 5)
        XCTAssertEqual(Count.sum(Int64.max, 1), Int64.max)
    }

    func testWaitingFromInsideItsOwnProcessorIsAStateError() throws {
        let engine = Engine()
        let current = Locked<Batch?>(nil)
        let refusals = Locked([String]())
        let processor = ClosureProcessor("inward") { _, _ in
            do {
                _ = try current.withLock { $0 }?.wait(timeout: 10)
            } catch let error as BatchCoreError where error.code == .state {
                refusals.withLock { $0.append(error.message) }
            } catch {}
            return .done
        }
        let batch = try makeBatch(engine, processor, documents: 8, options: ["workers": "2"])
        current.withLock { $0 = batch }
        try batch.start()
        XCTAssertTrue(try batch.wait(timeout: 60))
        current.withLock { $0 = nil }
        XCTAssertEqual(batch.stats.ok, 8)
        let messages = refusals.withLock { $0 }
        XCTAssertEqual(messages.count, 8)
        XCTAssertTrue(messages.allSatisfy { $0.contains("from inside one of its own processor calls") }, "\(messages)")
    }

    func testAHardCancelDropsTheDocumentEventsASlowHandlerHasNotSeen() throws {
        let engine = Engine()
        let processor = ClosureProcessor("quick") { _, _ in .done }
        let batch = try makeBatch(engine, processor, documents: 3000, options: ["workers": "4"])
        let hurry = Atomic<Bool>(false)
        let seen = Locked((documents: 0, dropped: "", last: ""))
        try batch.onEvent { event in
            switch event {
            case .documentFinished: seen.withLock { $0.documents += 1 }
            case .log(_, let message, nil, _): seen.withLock { $0.dropped = message }
            case .finished: seen.withLock { $0.last = "finished" }
            default: break
            }
            if !hurry.load(ordering: .relaxed) { sleepMs(100) }
        }
        try batch.start()
        let deadline = monotonicNanos() + 60_000_000_000
        while batch.stats.ok < 1000 && monotonicNanos() < deadline { sleepMs(5) }
        XCTAssertGreaterThanOrEqual(batch.stats.ok, 1000, "the handler is not minutes behind")
        batch.cancel(hard: true)
        let inTime = try batch.wait(timeout: 10)
        hurry.store(true, ordering: .relaxed)
        _ = try batch.wait()
        XCTAssertTrue(inTime, "the wait worked through the backlog after a hard cancel")

        let (documents, dropped, last) = seen.withLock { $0 }
        XCTAssertEqual(last, "finished")
        XCTAssertTrue(dropped.hasPrefix("cancelled: "), dropped)
        let count = Int(dropped.split(separator: " ")[1]) ?? -1
        XCTAssertEqual(UInt64(documents + count), batch.stats.ok)
    }

    func testAHardCancelDropsTheEventsOfCallsEndingAfterIt() throws {
        let engine = Engine()
        let inFlight = Atomic<Int>(0)
        let cancelled = Atomic<Bool>(false)
        let processor = ClosureProcessor("late") { _, _ in
            inFlight.add(1, ordering: .relaxed)
            while !cancelled.load(ordering: .relaxed) { sleepMs(1) }
            return .done  // once the hard cancel has returned
        }
        let batch = try makeBatch(engine, processor, documents: 4, options: ["workers": "4"])
        let seen = Locked((documents: 0, dropped: ""))
        try batch.onEvent { event in
            switch event {
            case .documentFinished: seen.withLock { $0.documents += 1 }
            case .log(_, let message, nil, _): seen.withLock { $0.dropped = message }
            default: break
            }
        }
        try batch.start()
        XCTAssertTrue(waitUntil { inFlight.load(ordering: .relaxed) == 4 })
        batch.cancel(hard: true)
        cancelled.store(true, ordering: .relaxed)
        XCTAssertTrue(try batch.wait(timeout: 60))

        XCTAssertEqual(batch.stats.ok, 4)
        let (documents, dropped) = seen.withLock { $0 }
        XCTAssertEqual(documents, 0, "events of documents finishing after a hard cancel were delivered")
        XCTAssertTrue(dropped.hasPrefix("cancelled: 4 "), dropped)
    }
}

/// A joinable thread for tests.
private final class TestThread: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: @Sendable () -> Void

    init(_ body: @escaping @Sendable () -> Void) {
        self.body = body
        let box = Unmanaged.passRetained(self).toOpaque()
        pthread_create(&thread, nil, { raw in
            let me = Unmanaged<TestThread>.fromOpaque(raw!).takeRetainedValue()
            me.body()
            return nil
        }, box)
    }

    func join() { pthread_join(thread, nil) }
}
