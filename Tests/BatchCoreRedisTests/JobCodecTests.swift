import BatchCore
@testable import BatchCoreRedis
import XCTest

/// Jobs and results keep every field through their compact encoding.
final class JobCodecTests: XCTestCase {
    func testANewJobIsItsDocumentAlone() throws {
        let job = Job(document: Document(id: "a:b\n7", path: "/x/a b.txt"))
        let bytes = JobCodec.encode(job)
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self), "5:a:b\n710:/x/a b.txt-")
        let back = try JobCodec.decode(bytes)
        XCTAssertEqual(back.document, job.document)
        XCTAssertEqual(back.attempts, 0)
    }

    func testAJobUnderWayKeepsWhereItStands() throws {
        var job = Job(document: Document(id: "d", path: nil, metadata: #"{"k":1}"#))
        job.stage = 1
        job.input = [0, 255, 58]
        job.stageAttempts = 2
        job.attempts = 3
        job.partial = true
        job.lastError = "timed out"
        job.inputTokens = 10
        job.outputTokens = 20
        job.costUSD = 0.25
        job.contentHash = "abc"
        job.reservation = BudgetReservation(id: 99, amount: 0.5)
        let back = try JobCodec.decode(JobCodec.encode(job))
        XCTAssertEqual(back.document, job.document)
        XCTAssertEqual([back.stage, back.stageAttempts, back.attempts], [1, 2, 3])
        XCTAssertEqual(back.input, [0, 255, 58])
        XCTAssertTrue(back.partial)
        XCTAssertEqual(back.lastError, "timed out")
        XCTAssertEqual([back.inputTokens, back.outputTokens], [10, 20])
        XCTAssertEqual(back.costUSD, 0.25)
        XCTAssertEqual(back.contentHash, "abc")
        XCTAssertEqual(back.reservation, BudgetReservation(id: 99, amount: 0.5))
    }

    func testAJobCarriesItsLastCallsFromWorkerToWorker() throws {
        var job = Job(document: Document(id: "d", path: nil))
        job.attempts = 25
        job.history = (1...25).map {
            AttemptRecord(attempt: $0, stage: "ocr", startedAt: 1_764_600_000.125, worker: "host:12/7", durationMs: 1.5,
                          outcome: $0 == 25 ? "failed" : "retry", error: "busy \($0)", stderr: $0 == 1 ? "a:b\n-" : nil)
        }
        let back = try JobCodec.decode(JobCodec.encode(job))
        XCTAssertEqual(back.history, Array(job.history.suffix(RedisAttempts.kept)))
        XCTAssertEqual(try AttemptCodec.decode(AttemptCodec.encode(job.history.prefix(1))), [job.history[0]])
    }

    func testAMalformedJobIsRefusedWithAReason() {
        XCTAssertThrowsError(try JobCodec.decode(Array("9:short".utf8))) { error in
            XCTAssertTrue("\(error)".contains("malformed"))
        }
    }
}
