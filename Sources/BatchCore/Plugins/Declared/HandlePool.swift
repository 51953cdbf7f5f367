import Glibc

/// One handle per thread, for libraries whose handles must not be used by
/// two threads at once (libmagic's `magic_t`, most parsers). A thread gets
/// its handle on first use — a spare made at stage start if one is left,
/// else a new one — and keeps it until the stage stops, when every handle is
/// destroyed from the stopping thread. Worker threads belong to the engine
/// and outlive stages, so handles are keyed by thread inside one pool (one
/// per stage instance), never stored in the threads themselves. A thread
/// that starts after another ended may get its pthread_t, and so its handle:
/// still one thread at a time.
final class HandlePool: Sendable {
    typealias Handle = UnsafeMutableRawPointer

    private let create: @Sendable () throws -> Handle
    private let destroy: @Sendable (Handle) -> Void
    private let state = Locked(State())

    private struct State {
        var byThread: [pthread_t: Handle] = [:]
        var spares: [Handle] = []
        var stopped = false
    }

    init(create: @escaping @Sendable () throws -> Handle, destroy: @escaping @Sendable (Handle) -> Void) {
        self.create = create
        self.destroy = destroy
    }

    /// Makes one handle now, so a failing init is reported when the stage
    /// starts rather than on every document. The first thread to need a
    /// handle adopts it.
    func prepareSpare() throws {
        let handle = try create()
        state.withLock { $0.spares.append(handle) }
    }

    /// The calling thread's handle, made on first use. Throws what `create`
    /// throws; the next call on this thread tries again.
    func handleForCurrentThread() throws -> Handle {
        let thread = pthread_self()
        let existing: Handle? = state.withLock { state in
            precondition(!state.stopped, "a declared processor was called after its stage stopped")
            if let handle = state.byThread[thread] { return handle }
            if let spare = state.spares.popLast() {
                state.byThread[thread] = spare
                return spare
            }
            return nil
        }
        if let existing { return existing }
        // Made outside the lock: init may be slow (magic_load reads a database)
        // and only this thread will use the result.
        let handle = try create()
        state.withLock { $0.byThread[thread] = handle }
        return handle
    }

    /// How many handles exist (in use by a thread or spare).
    var count: Int { state.withLock { $0.byThread.count + $0.spares.count } }

    /// Destroys every handle. Called once, when the stage stops.
    func destroyAll() {
        let handles: [Handle] = state.withLock { state in
            state.stopped = true
            defer { state.byThread = [:]; state.spares = [] }
            return Array(state.byThread.values) + state.spares
        }
        handles.forEach(destroy)
    }
}
