@testable import BatchCore
import Glibc
import XCTest

final class JournalTests: XCTestCase {
    private var dir = ""

    override func setUp() {
        var template = Array("/tmp/batchcore-journal-XXXXXX".utf8CString)
        dir = String(cString: mkdtemp(&template)!)
    }

    override func tearDown() {
        _ = dir.withCString { system("rm -rf '\(String(cString: $0))'") }
    }

    private func journaledBatch(_ engine: Engine, _ p: ClosureProcessor, resume: Bool, workers: Int = 8) throws -> Batch {
        let batch = try makeBatch(engine, p, documents: 2_000, options: [
            "workers": String(workers), "checkpoint": dir + "/run.journal", "output": dir + "/out.jsonl",
            "checkpoint.every": "10", "checkpoint.interval": "5ms", "resume": String(resume),
        ])
        try batch.start()
        XCTAssertTrue(try batch.wait(timeout: 60))
        XCTAssertNil(batch.error)
        return batch
    }

    private func openJournal(resume: Bool = false) throws -> Journal {
        let configuration = RunConfiguration(stages: [.init(label: "p", processor: "p", options: [:])], inputs: [], dedupe: false)
        return try Journal(path: dir + "/run.journal", configuration: configuration, resume: resume, force: false)
    }

    func testASecondOpenOfAJournalInTheSameProcessIsRefusedNamingTheOwner() throws {
        let first = try openJournal()
        try first.beginRun()
        XCTAssertThrowsError(try openJournal(resume: true)) { error in
            let error = error as! BatchCoreError
            XCTAssertEqual(error.code, .state)
            XCTAssertTrue(error.message.contains("is in use by pid \(getpid()) since "), error.message)
        }
        XCTAssertEqual(JournalLock.owner(ofJournal: dir + "/run.journal")?.pid, getpid())
        first.close()
        XCTAssertNil(JournalLock.owner(ofJournal: dir + "/run.journal"))
        try openJournal(resume: true).close()
    }

    func testRecoveredJournalHoldsTheOutputsResultsExactly() throws {
        let output = dir + "/out.jsonl"
        let results = [
            DocumentResult(document: Document(id: "a,\u{301}\"b", path: "/x/a", metadata: #"{"k":[1,2.50,"é"]}"#),
                           status: .ok, output: Array(#"{"z":1,"a":"\n"}"#.utf8), outputIsJSON: true, error: nil,
                           attempts: 2, failedStage: nil, failedStageLabel: nil, durationMs: 1.25,
                           inputTokens: 7, outputTokens: 9, units: 3, costUSD: 0.5),
            DocumentResult(document: Document(id: "b", path: nil, metadata: "{}"),
                           status: .failed, output: [0xFF, 0x00], outputIsJSON: false, error: "bad\tthing",
                           attempts: 3, failedStage: 1, failedStageLabel: "ocr", durationMs: 0,
                           inputTokens: 0, outputTokens: 0, duplicateOf: "a"),
        ]
        let lines = results.flatMap { OutputWriter.line(for: $0) }
        XCTAssertTrue(FileManager.default.createFile(atPath: output, contents: Data(lines)))
        let report = try JournalRecovery.rebuild(journal: dir + "/run.journal", output: output)
        XCTAssertEqual(report.documents, 2)
        XCTAssertNil(report.oldJournal)
        let cursor = try JournalReader(path: dir + "/run.journal").results()
        var again: [UInt8] = []
        while let result = try cursor.next() { again += OutputWriter.line(for: result) }
        XCTAssertEqual(String(decoding: again, as: UTF8.self), String(decoding: lines, as: UTF8.self))
    }

    func testConcurrentWorkersJournalEveryResultAndResumeRunsNothing() throws {
        let engine = Engine()
        let calls = Locked(0)
        let p = ClosureProcessor("journaled") { call, doc in
            calls.withLock { $0 += 1 }
            call.setOutput(Array(doc.document.id.utf8))
            return doc.document.id.hasSuffix("3") ? .fail : .done
        }
        let first = try journaledBatch(engine, p, resume: false)
        XCTAssertEqual(first.stats.ok + first.stats.failed, 2_000)
        XCTAssertEqual(calls.withLock { $0 }, 2_000)

        let summary = try JournalReader(path: dir + "/run.journal").summary()
        XCTAssertEqual(summary.ok, 1_800)
        XCTAssertEqual(summary.failed, 200)
        XCTAssertEqual(summary.runs.count, 1)
        XCTAssertEqual(summary.runs[0].processed, 2_000)

        let second = try journaledBatch(engine, p, resume: true)
        XCTAssertEqual(calls.withLock { $0 }, 2_000, "resume ran finished documents again")
        XCTAssertEqual(second.stats.resumed, 2_000)
        XCTAssertEqual(second.stats.ok, 1_800)
        let lines = try String(contentsOfFile: dir + "/out.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 2_000)
    }

    func testExportedJSONLinesAreTheLiveOutputByteForByte() throws {
        let p = ClosureProcessor("varied") { call, doc in
            let id = doc.document.id
            call.addUsage(input: UInt64(id.count), output: 2)
            switch id.last {
            case "1": _ = call.setOutputJSON(Array(#"{"id":"\#(id)","n":[1,2.5]}"#.utf8))
            case "2": call.setOutput([0xFF, 0x00, 0x0A])
            case "3": call.error = "bad\t\"\(id)\""; return .fail
            default: call.setOutput(Array("text, \"quoted\"\n\(id)".utf8))
            }
            return .done
        }
        _ = try journaledBatch(Engine(), p, resume: false)
        try JournalReader(path: dir + "/run.journal").export(to: dir + "/export.jsonl", format: .jsonl)
        let live = try Data(contentsOf: URL(fileURLWithPath: dir + "/out.jsonl"))
        let exported = try Data(contentsOf: URL(fileURLWithPath: dir + "/export.jsonl"))
        XCTAssertEqual(live.count, exported.count)
        XCTAssertTrue(live == exported, "export wrote other bytes than the live output")
    }

    func testRunConfigurationDifferencesAreNamed() {
        let base = RunConfiguration(
            stages: [.init(label: "text", processor: "text", options: ["max_bytes": "1"])],
            inputs: ["directory a"], dedupe: false)
        var other = base
        other.stages[0].options["max_bytes"] = "2"
        XCTAssertEqual(other.differences(from: base), ["stage 'text' option 'max_bytes': the journal has '1', now '2'"])
        other = base
        other.inputs = ["directory b"]
        XCTAssertEqual(other.differences(from: base), ["inputs: the journal has directory a, now directory b"])
        other = base
        other.stages.append(.init(label: "exec", processor: "exec", options: [:]))
        XCTAssertEqual(other.differences(from: base).first?.hasPrefix("stages: the journal has text=text, now text=text → exec=exec"), true)
        XCTAssertEqual(base.differences(from: base), [])
    }
}
