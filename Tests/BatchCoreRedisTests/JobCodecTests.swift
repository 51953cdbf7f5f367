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

    func testAMalformedJobIsRefusedWithAReason() {
        XCTAssertThrowsError(try JobCodec.decode(Array("9:short".utf8))) { error in
            XCTAssertTrue("\(error)".contains("malformed"))
        }
    }
}
