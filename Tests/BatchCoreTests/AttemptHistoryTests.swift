@testable import BatchCore
import Glibc
import XCTest

/// A document's attempt history: every call of a document that failed or
/// took more than one call, each with where it ran; none for a document
/// done in one call, which its result tells alone.
final class AttemptHistoryTests: XCTestCase {
    func testOnlyDocumentsOfSeveralCallsCarryTheirCallsWithTheThreadEachRanOn() throws {
        let engine = Engine()
        let places = Locked([String: [String]]())
        let p = ClosureProcessor("history") { _, doc in
            let calls = places.withLock { places in
                places[doc.document.id, default: []].append(AttemptRecord.Place.current.name)
                return places[doc.document.id]!.count
            }
            return doc.document.id == "history-0" && calls == 1 ? .retry : .done
        }
        let batch = try makeBatch(engine, p, documents: 3, options: [
            "workers": "2", "retry.base": "1ms", "retry.max": "1ms"])
        try batch.start()
        XCTAssertTrue(try batch.wait(timeout: 60))
        let results = Dictionary(uniqueKeysWithValues: batch.finishedResults.map { ($0.document.id, $0) })
        XCTAssertEqual(results["history-1"]?.history, [])
        XCTAssertEqual(results["history-2"]?.history, [])
        let retried = try XCTUnwrap(results["history-0"]?.history)
        XCTAssertEqual(retried.map(\.outcome), ["retry", "ok"])
        XCTAssertEqual(retried.map(\.attempt), [1, 2])
        XCTAssertEqual(retried.map(\.worker), places.withLock { $0["history-0"] })
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count - 1)
        for record in retried {
            XCTAssertTrue(record.worker.hasPrefix("\(String(cString: host)):\(getpid())/"), record.worker)
            XCTAssertNotNil(Int(record.worker.split(separator: "/").last!), record.worker)
        }
    }
}
