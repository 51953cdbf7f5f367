@testable import BatchCore
import XCTest

final class OptionsTests: XCTestCase {
    func testDefaults() {
        let o = BatchOptions()
        XCTAssertEqual(o.workers, 10)
        XCTAssertEqual(o.retryAttempts, 3)
        XCTAssertEqual(EngineOptions().maxWorkers, 256)
        for spec in BatchOptions.table.specs {
            var fresh = BatchOptions()
            if !spec.defaultValue.isEmpty {
                XCTAssertNoThrow(try fresh.set(spec.key, spec.defaultValue), "default of \(spec.key) must parse")
                XCTAssertEqual(fresh, BatchOptions(), "default text of \(spec.key) disagrees with the default value")
            }
            XCTAssertFalse(spec.help.isEmpty)
        }
    }

    func testUnknownKeyNamesKeyAndSuggests() {
        var o = BatchOptions()
        XCTAssertThrowsError(try o.set("wrkers", "3")) { error in
            let e = error as! BatchCoreError
            XCTAssertEqual(e.code, .option)
            XCTAssertTrue(e.message.contains("'wrkers'"), e.message)
            XCTAssertTrue(e.message.contains("did you mean 'workers'"), e.message)
        }
    }

    func testBadValuesNameKeyValueAndExpectation() {
        var o = BatchOptions()
        let cases = [("workers", "abc"), ("workers", "0"), ("sequential", "maybe"), ("retry.base", "soon"), ("retry.attempts", "-1")]
        for (key, value) in cases {
            XCTAssertThrowsError(try o.set(key, value)) { error in
                let e = error as! BatchCoreError
                XCTAssertEqual(e.code, .option)
                XCTAssertTrue(e.message.contains("'\(key)'") && e.message.contains("'\(value)'") && e.message.contains("expected"), e.message)
            }
        }
    }

    func testDurations() throws {
        var o = BatchOptions()
        try o.set("retry.base", "250ms"); XCTAssertEqual(o.retryBase, 0.25, accuracy: 1e-9)
        try o.set("retry.max", "2m"); XCTAssertEqual(o.retryMax, 120)
        try o.set("retry.max", "1.5"); XCTAssertEqual(o.retryMax, 1.5)
    }

    func testStageOptionsCheckedAgainstDeclaredOptions() throws {
        let engine = Engine()
        let p = ClosureProcessor("strict", options: [StageOption(name: "mode", defaultValue: nil, help: "")]) { _, _ in .done }
        try engine.register(p)
        let batch = Batch(engine: engine)
        try batch.addStage(processor: "strict")
        try batch.setStage(nil, "mdoe", "x")
        XCTAssertThrowsError(try batch.start()) { error in
            let e = error as! BatchCoreError
            XCTAssertEqual(e.code, .option)
            XCTAssertTrue(e.message.contains("'mdoe'") && e.message.contains("did you mean 'mode'"), e.message)
        }
    }

    func testStageLabelsAreUnique() throws {
        let engine = Engine()
        let batch = Batch(engine: engine)
        XCTAssertEqual(try batch.addStage(processor: "exec"), "exec")
        XCTAssertEqual(try batch.addStage(processor: "exec"), "exec-2")
        XCTAssertEqual(try batch.addStage(processor: "plugins/libbatchcore-text.so"), "text")
        XCTAssertThrowsError(try batch.setStage("nope", "k", "v"))
    }

    func testMissingProcessorListsWhereItLooked() throws {
        let engine = Engine()
        try engine.set("plugin_dir", "/nonexistent/dir")
        XCTAssertThrowsError(try engine.processor(named: "nosuch")) { error in
            let e = error as! BatchCoreError
            XCTAssertEqual(e.code, .notFound)
            XCTAssertTrue(e.message.contains("nosuch.so") && e.message.contains("/nonexistent/dir"), e.message)
        }
    }

    func testConfigurationIsRefusedAfterStart() throws {
        let engine = Engine()
        let p = ClosureProcessor("late") { _, _ in .done }
        let batch = try makeBatch(engine, p, documents: 1)
        try batch.start()
        XCTAssertThrowsError(try batch.set("workers", "2")) { XCTAssertEqual(($0 as! BatchCoreError).code, .state) }
        XCTAssertTrue(try batch.wait(timeout: 10))
    }
}
