@testable import BatchCore
import XCTest

final class SampleTests: XCTestCase {
    func testSampleTakesTheLastOfEachStretch() {
        let s = SampleSelection(size: 10, of: 1000)
        XCTAssertEqual((0..<1000).filter(s.selects), (0..<10).map { $0 * 100 + 99 })
    }

    func testSampleSizesThatDoNotDivideTheTotal() {
        for (size, total) in [(3, 10), (7, 7), (1, 5), (4, 9)] {
            let s = SampleSelection(size: size, of: total)
            let chosen = (0..<total).filter(s.selects)
            XCTAssertEqual(chosen.count, size, "\(size) of \(total)")
            XCTAssertEqual(chosen.last, total - 1)  // spread to the very end
        }
    }

    func testASampleLargerThanTheInputTakesEverything() {
        let s = SampleSelection(size: 50, of: 20)
        XCTAssertEqual(s.size, 20)
        XCTAssertEqual((0..<20).filter(s.selects).count, 20)
        XCTAssertFalse(s.selects(20))
    }
}
