@testable import BatchCore
import XCTest

/// The pieces of process isolation that need no worker process: options,
/// frames and messages. The CLI tests (Tests/cli/test_isolation.py) run real
/// workers that crash, hang and leak.
final class IsolationTests: XCTestCase {
    func testOptions() throws {
        var o = BatchOptions()
        XCTAssertEqual(o.isolation, .auto)
        try o.set("isolation", "process")
        try o.set("worker.max_documents", "50")
        try o.set("worker.memory_limit", "512MB")
        XCTAssertEqual(o.isolation, .process)
        XCTAssertEqual(o.workerMaxDocuments, 50)
        XCTAssertEqual(o.workerMemoryLimit, 512_000_000)
        for (key, value) in [("isolation", "fork"), ("worker.max_documents", "0"), ("worker.memory_limit", "1MB")] {
            XCTAssertThrowsError(try o.set(key, value)) { error in
                let message = (error as! BatchCoreError).message
                XCTAssertTrue(message.contains("'\(key)'") && message.contains("expected"), message)
            }
        }
    }

    /// isolation=auto follows the plugin's flag; an explicit choice wins.
    /// Hostile-document limits fill in only what the user left unset.
    func testAutoIsolationAndHostileLimits() throws {
        var hostile = ProcessorInfo(name: "pdf", version: "1", description: "", kind: .plugin)
        hostile.prefersProcess = true
        let plain = ProcessorInfo(name: "text", version: "1", description: "", kind: .plugin)
        XCTAssertEqual(Isolation.auto.resolved(for: hostile), .process)
        XCTAssertEqual(Isolation.auto.resolved(for: plain), .thread)
        XCTAssertEqual(Isolation.thread.resolved(for: hostile), .thread)
        XCTAssertEqual(Isolation.process.resolved(for: plain), .process)

        var o = BatchOptions()
        XCTAssertEqual(HostileDocumentLimits(for: hostile, options: o).memoryLimit, HostileDocumentLimits.memoryLimit)
        XCTAssertEqual(HostileDocumentLimits(for: hostile, options: o).defaultTimeout, HostileDocumentLimits.timeout)
        XCTAssertNil(HostileDocumentLimits(for: plain, options: o).memoryLimit)
        XCTAssertNil(HostileDocumentLimits(for: plain, options: o).defaultTimeout)
        try o.set("timeout", "5s")
        try o.set("worker.memory_limit", "1GiB")
        XCTAssertEqual(HostileDocumentLimits(for: hostile, options: o).memoryLimit, 1 << 30)
        XCTAssertNil(HostileDocumentLimits(for: hostile, options: o).defaultTimeout)
    }

    func testFramesRoundTrip() throws {
        let doc = DocumentInput(document: Document(id: "a", path: "/x/é.txt", metadata: "{\"k\":1}"),
                                stage: 2, attempt: 3, input: [0, 1, 255])
        var buffer = FrameBuffer()
        let bytes = DocumentFrame.encode(.process, doc) + StartRequest(
            kind: .declared, path: "p.toml", label: "s", options: ["b": "2", "a": "1"], memoryLimit: 7).encode()
        // Byte by byte: a frame is only complete when all of it arrived.
        var frames: [FrameReader] = []
        for byte in bytes {
            [byte].withUnsafeBytes { buffer.append($0) }
            if let frame = try buffer.next() { frames.append(frame) }
        }
        XCTAssertEqual(frames.count, 2)
        XCTAssertEqual(frames[0].kind, .process)
        let decoded = try DocumentFrame.decode(&frames[0])
        XCTAssertEqual(decoded.document, doc.document)
        XCTAssertEqual(decoded.stage, 2)
        XCTAssertEqual(decoded.attempt, 3)
        XCTAssertEqual(decoded.input, [0, 1, 255])
        let start = try StartRequest(&frames[1])
        XCTAssertEqual(start.kind, .declared)
        XCTAssertEqual(start.options, ["a": "1", "b": "2"])
        XCTAssertEqual(start.memoryLimit, 7)
    }

    /// docs/worker-protocol.md's example frames are what the engine writes
    /// (the Python worker's tests check the same bytes).
    func testFramesMatchTheDocumentedExamples() throws {
        let tests = String(#filePath.prefix(upTo: #filePath.lastIndex(of: "/")!))
        let text = String(decoding: try readWholeFile(tests + "/../../docs/worker-protocol.md"), as: UTF8.self)
        func example(_ name: String) throws -> [UInt8] {
            let after = try XCTUnwrap(text.range(of: "<!-- frame: \(name) -->\n```\n"))
            let end = try XCTUnwrap(text.range(of: "```", range: after.upperBound..<text.endIndex))
            return text[after.upperBound..<end.lowerBound].split(whereSeparator: { $0 == " " || $0 == "\n" })
                .map { UInt8($0, radix: 16)! }
        }
        let start = StartRequest(kind: .python, path: "mod:fn", label: "classify", options: ["prepare": "mod:setup"], memoryLimit: 0)
        XCTAssertEqual(start.encode(), try example("start"))
        let call = CallContext(cancelFlag: CancelFlag())
        XCTAssertTrue(call.setOutputJSON(Array("{\"a\":1}".utf8)))
        call.error = "half"
        call.inputTokens = 10
        call.outputTokens = 20
        call.retryAfterMs = 1500
        XCTAssertEqual(ResultFrame.encode(.partial, call), try example("result"))
    }

    func testResultFrameCarriesEverythingACallCollects() throws {
        let sent = CallContext(cancelFlag: CancelFlag())
        XCTAssertTrue(sent.setOutputJSON(Array("{\"x\":1}".utf8)))
        sent.error = "half done"
        sent.inputTokens = 10
        sent.outputTokens = 20
        sent.units = 3
        sent.retryAfterMs = 1500
        var buffer = FrameBuffer()
        ResultFrame.encode(.partial, sent).withUnsafeBytes { buffer.append($0) }
        var frame = try XCTUnwrap(try buffer.next())
        let got = CallContext(cancelFlag: CancelFlag())
        XCTAssertEqual(try ResultFrame.decode(&frame, into: got), .partial)
        XCTAssertEqual(got.output, sent.output)
        XCTAssertTrue(got.outputIsJSON)
        XCTAssertEqual(got.error, "half done")
        XCTAssertEqual([got.inputTokens, got.outputTokens, got.units], [10, 20, 3])
        XCTAssertEqual(got.retryAfterMs, 1500)
    }

    func testMalformedFramesAreRefused() {
        var buffer = FrameBuffer()
        ([0xff, 0xff, 0xff, 0xff, 1] as [UInt8]).withUnsafeBytes { buffer.append($0) }  // 4 GiB length
        XCTAssertThrowsError(try buffer.next())
        var unknown = FrameBuffer()
        ([1, 0, 0, 0, 99] as [UInt8]).withUnsafeBytes { unknown.append($0) }  // no such kind
        XCTAssertThrowsError(try unknown.next())
    }

    func testByteSizesReadAsWritten() {
        XCTAssertEqual(formatByteSize(512_000_000), "512MB")
        XCTAssertEqual(formatByteSize(512 << 20), "512MiB")
        XCTAssertEqual(formatByteSize(2 << 30), "2GiB")
        XCTAssertEqual(formatByteSize(12345), "12345 bytes")
    }
}
