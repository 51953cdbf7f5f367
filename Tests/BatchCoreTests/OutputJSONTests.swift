@testable import BatchCore
import XCTest

/// A processor's JSON output is checked, not parsed: exactly one RFC 8259
/// value, whitespace around it allowed, anything else refused whole.
final class OutputJSONTests: XCTestCase {
    private func accepts(_ text: [UInt8]) -> Bool {
        let call = CallContext(cancelFlag: CancelFlag())
        let accepted = call.setOutputJSON(text)
        XCTAssertEqual(call.output, accepted ? text : nil, "a refused output must leave nothing behind")
        return accepted
    }

    func testEveryKindOfValueIsAccepted() {
        for text in ["{}", " [1, \"a\", {\"b\": null}] \n", "\"x\"", "-1.5e3", "true", "null", "{\"é\":\"\\u00e9\\ud83d\\ude00\"}"] {
            XCTAssertTrue(accepts(Array(text.utf8)), text)
        }
    }

    func testMalformedTextIsRefused() {
        for text in ["", " ", "{", "{\"a\":1,}", "[1] x", "[1][2]", "NaN", "01", "1.", "'a'", "{a:1}", "\u{FEFF}{}"] {
            XCTAssertFalse(accepts(Array(text.utf8)), text)
        }
        XCTAssertFalse(accepts([UInt8(ascii: "\""), 0xFF, UInt8(ascii: "\"")]), "invalid UTF-8 in a string")
    }

    func testHostileNestingIsRefusedWithoutExhaustingTheStack() {
        XCTAssertFalse(accepts(Array(repeating: UInt8(ascii: "["), count: 1_000_000)))
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        XCTAssertFalse(accepts(Array(deep.utf8)))
        let fine = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        XCTAssertTrue(accepts(Array(fine.utf8)))
    }
}
