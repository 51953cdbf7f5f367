@testable import BatchCore
import Glibc
import Synchronization
import XCTest

/// Thread-exit handlers registered by engine threads, and those that ran.
private let exitHandlersRegistered = Atomic<Int>(0)
private let exitHandlersRun = Atomic<Int>(0)

/// A thread-exit handler as slow as a library's clean-up can be (OpenSSL
/// frees its per-thread state in one): a host that exits while it runs can
/// crash in that library.
private let slowExitHandler: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key) { _ in
        usleep(200_000)
        exitHandlersRun.add(1, ordering: .relaxed)
    }
    return key
}()

/// Registers the slow handler on the calling thread, once.
private func registerSlowExitHandler() {
    guard pthread_getspecific(slowExitHandler) == nil else { return }
    pthread_setspecific(slowExitHandler, UnsafeRawPointer(bitPattern: 1))
    exitHandlersRegistered.add(1, ordering: .relaxed)
}

final class ShutdownTests: XCTestCase {
    /// When `wait` and `Engine.shutdown` have returned, no thread of the
    /// batch or the engine runs any more, thread-exit handlers included.
    func testNoEngineThreadRunsAfterWaitAndShutdown() throws {
        let engine = Engine()
        let processor = ClosureProcessor("exit-handler") { _, _ in
            registerSlowExitHandler()
            return .fail
        }
        let batch = try makeBatch(engine, processor, documents: 64, options: ["workers": "8"])
        try batch.onEvent { _ in registerSlowExitHandler() }
        try batch.start()
        XCTAssertTrue(try batch.wait(timeout: 60))
        engine.shutdown()
        let registered = exitHandlersRegistered.load(ordering: .relaxed)
        XCTAssertGreaterThan(registered, 1, "the workers and the event thread each register one")
        XCTAssertEqual(exitHandlersRun.load(ordering: .relaxed), registered)
    }

    func testAShutDownEngineRefusesToStartABatch() throws {
        let engine = Engine()
        let batch = try makeBatch(engine, ClosureProcessor("noop") { _, _ in .done }, documents: 1)
        engine.shutdown()
        XCTAssertThrowsError(try batch.start()) { error in
            XCTAssertEqual((error as? BatchCoreError)?.code, .state)
            XCTAssertTrue((error as? BatchCoreError)?.message.contains("shut down") ?? false, "\(error)")
        }
    }
}
