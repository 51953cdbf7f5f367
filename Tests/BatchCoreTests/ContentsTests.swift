@testable import BatchCore
import XCTest

/// Documents held in memory added together (`Batch.add(contents:)`): all
/// or none, refusals naming the document, and the checks the start still
/// makes on what was added one by one.
final class ContentsTests: XCTestCase {
    private let engine = Engine()

    override func tearDown() {
        engine.shutdown()
    }

    private func content(_ id: String, _ text: String = "") throws -> ContentSource {
        try ContentSource(id: id, content: Array(text.utf8))
    }

    private func makeBatch() throws -> Batch {
        if (try? engine.processor(named: "echo")) == nil {
            try engine.register(ClosureProcessor("echo") { call, doc in
                call.setOutput(doc.document.content ?? [])
                return .done
            })
        }
        let batch = Batch(engine: engine)
        try batch.addStage(processor: "echo")
        try batch.set("keep_results", "true")
        return batch
    }

    private func message(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch {
            return (error as? BatchCoreError)?.message ?? "\(error)"
        }
    }

    func testARefusedDocumentRefusesTheWholeCallNamingIt() throws {
        let batch = try makeBatch()
        try batch.add(content("a", "first"))
        let within = message { try batch.add(contents: [self.content("b"), self.content("c"), self.content("b")]) }
        XCTAssertEqual(within?.hasPrefix("document 3 of 3: duplicate id \"b\", first given as document 1 of 3;"), true, within ?? "")
        let earlier = message { try batch.add(contents: [self.content("d"), self.content("a")]) }
        XCTAssertEqual(earlier?.hasPrefix("document 2 of 2: duplicate id \"a\", first given in content a, added before;"), true,
                       earlier ?? "")
        try batch.set("content.max_size", "4")
        let big = message { try batch.add(contents: [self.content("e", "abc"), self.content("f", "abcde")]) }
        XCTAssertEqual(big?.hasPrefix("document 2 of 2: the content of 'f' is 5 bytes, over the limit of 4 bytes"), true, big ?? "")

        // Nothing of the refused calls was kept: their ids are free again.
        try batch.add(contents: [content("b", "b"), content("c", "c"), content("d", "d"), content("e", "e"), content("f", "f")])
        try batch.set("content.max_size", "16")
        try batch.start()
        XCTAssertTrue(try batch.wait(timeout: 60))
        let outputs = Dictionary(uniqueKeysWithValues: batch.finishedResults.map { ($0.document.id, $0.output) })
        XCTAssertEqual(outputs, ["a": Array("first".utf8), "b": [98], "c": [99], "d": [100], "e": [101], "f": [102]])
        XCTAssertNotNil(message { try batch.add(contents: []) }, "adding after the start is refused, even nothing")
    }

    func testADuplicateOfAnyOfManyDocumentsIsNamedRightly() throws {
        let batch = try makeBatch()
        let count = 70_000  // more sources than 16 bits count
        try batch.add(contents: ContentSource.many(count) { try self.content("d-\($0)") })
        let last = message { try batch.add(contents: [self.content("d-\(count - 1)")]) }
        XCTAssertEqual(last?.hasPrefix("document 1 of 1: duplicate id \"d-69999\", first given in content d-69999, added before;"),
                       true, last ?? "")
    }

    func testDocumentsThatCannotBeMadeAreNamed() {
        let empty = message { _ = try ContentSource.many(3) { try self.content($0 == 1 ? "" : "ok-\($0)") } }
        XCTAssertEqual(empty, "document 2 of 3: a document given by its content needs a non-empty id")
        let metadata = message {
            _ = try ContentSource.many(2) { try ContentSource(id: "m-\($0)", content: [], metadata: $0 == 1 ? "[1]" : nil) }
        }
        XCTAssertEqual(metadata?.hasPrefix("document 2 of 2: the metadata of 'm-1'"), true, metadata ?? "")
    }

    func testALimitSetAfterAddingIsCheckedAtTheStart() throws {
        let batch = try makeBatch()
        try batch.add(content("small", "abc"))
        try batch.add(contents: [content("many-1", "abc"), content("many-2", "abcdef")])
        try batch.set("content.max_size", "4")
        let refused = message { try batch.start() }
        XCTAssertEqual(refused?.hasPrefix("the content of 'many-2' is 6 bytes, over the limit of 4 bytes"), true, refused ?? "")
    }

    func testIdsAddedOneByOneAreStillCheckedAtTheStart() throws {
        let twice = try makeBatch()
        try twice.add(content("a"))
        try twice.add(content("a"))
        let repeated = message { try twice.start() }
        XCTAssertEqual(repeated?.hasPrefix("duplicate id \"a\" in content a, first in content a;"), true, repeated ?? "")

        // Documents read at the start added first, a content after: the
        // message still names the later one as the duplicate.
        let mixed = try makeBatch()
        try mixed.add(ArraySource(count: 1, prefix: "x"))
        try mixed.add(contents: [content("y"), content("x-0")])
        let across = message { try mixed.start() }
        XCTAssertEqual(across?.hasPrefix("duplicate id \"x-0\" in content x-0, first in memory;"), true, across ?? "")
    }
}
