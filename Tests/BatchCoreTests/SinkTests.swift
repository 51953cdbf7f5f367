@testable import BatchCore
import XCTest

final class SinkTests: XCTestCase {
    func testURLsKeepTheirPasswordOutOfSight() throws {
        let url = try SinkURL.parse("postgresql://ann:hunter2@db.example:5433/crm?table=docs&sslmode=require&password=other")
        XCTAssertEqual(url.kind, .postgresql)
        XCTAssertEqual(url.table, "docs")
        XCTAssertEqual(url.database, "postgresql://ann:hunter2@db.example:5433/crm?sslmode=require&password=other")
        XCTAssertEqual(url.display, "postgresql://ann@db.example:5433/crm?sslmode=require&table=docs")
        XCTAssertEqual(try SinkURL.parse("sqlite://r.db").display, "sqlite://r.db?table=results")
    }

    func testBadURLsSayWhatWasExpected() {
        for (text, expected) in [("mysql://x", "'mysql' is not a database"), ("sqlite:///r.db?mode=ro", "unknown parameter 'mode=ro'"),
                                 ("sqlite:///r.db?table=a;drop", "letters, digits and underscores"), ("r.db", "expected sqlite://")] {
            XCTAssertThrowsError(try SinkURL.parse(text), text) { error in
                XCTAssertTrue((error as? BatchCoreError)?.message.contains(expected) == true, "\(text): \(error)")
            }
        }
    }

    func testMappedColumnsReadFieldsAndRefuseMismatches() throws {
        let columns = try SinkColumns.mapped("who=$.patient.name, dose:real=$.dose, ok:boolean=$.ok")
        XCTAssertEqual(columns.map(\.name), ["id", "who", "dose", "ok", "status", "error", "batch", "finished_at"])
        func row(_ json: String) -> SinkRow {
            let result = DocumentResult(document: Document(id: "d", path: nil, metadata: "{}"), status: .ok,
                                        output: Array(json.utf8), outputIsJSON: true, error: nil, attempts: 1,
                                        failedStage: nil, failedStageLabel: nil, durationMs: 0, inputTokens: 0, outputTokens: 0)
            return SinkRow(result: result, finishedAt: 0, batch: "b", parseOutput: true)
        }
        let values = try columns[1...3].map { try $0.value(row(#"{"patient":{"name":"Ann"},"dose":2.5}"#)) }
        XCTAssertEqual(values, [.text("Ann"), .real(2.5), .null])
        XCTAssertThrowsError(try columns[2].value(row(#"{"dose":"high"}"#))) { error in
            XCTAssertEqual(error as? SinkFailure, .permanent(#"column 'dose' is declared real, but the output's $.dose is a string: "high""#))
        }
        XCTAssertThrowsError(try SinkColumns.mapped("status=$.x"))
        XCTAssertThrowsError(try SinkColumns.mapped("n:date=$.x"))
        XCTAssertThrowsError(try SinkColumns.mapped("n:timestamp=$.x"))  // finished_at's own type
        XCTAssertThrowsError(try SinkColumns.mapped("n=x"))
    }

    func testPasswordsAreFoundAndHiddenInAnyText() {
        let line = "batchhost run -O sink=postgresql://ann:hunter2@db/crm?table=t --option=sink='POSTGRES://bo:pw9x@/d?host=/s&password=p%41ss'"
        XCTAssertEqual(SinkPasswords.hidden(in: line),
                       "batchhost run -O sink=postgresql://ann@db/crm?table=t --option=sink='POSTGRES://bo@/d?host=/s'")
        XCTAssertEqual(SinkPasswords.passwords(in: line), ["hunter2", "pw9x", "p%41ss"])
        XCTAssertEqual(SinkPasswords.hidden(in: "sqlite:///a:b@c.db postgresql://ann@db/crm"), "sqlite:///a:b@c.db postgresql://ann@db/crm")
        XCTAssertThrowsError(try SinkURL.parse("mysql://ann:hunter2@db/crm")) { error in
            XCTAssertFalse("\(error)".contains("hunter2"), "\(error)")
        }
    }

    func testTimestampsAreISO8601InUTCWithMilliseconds() {
        XCTAssertEqual(isoTimestamp(0), "1970-01-01T00:00:00.000Z")
        XCTAssertEqual(isoTimestamp(1_773_480_413.5894), "2026-03-14T09:26:53.589Z")
        XCTAssertEqual(isoTimestamp(59.9996), "1970-01-01T00:01:00.000Z")
    }
}
