import CBatchCore
import Glibc

/// Starts a detached OS thread running `body`. Workers are real threads, not
/// Swift tasks, because processor calls block.
public func startThread(name: String, _ body: @escaping @Sendable () -> Void) {
    _ = spawnThread(name: name, detached: true, body)
}

/// Starts an OS thread that its owner joins before it lets go of what the
/// thread uses: a thread still running (or running its thread-exit
/// handlers, as OpenSSL's) while the process exits can crash it.
func startJoinableThread(name: String, _ body: @escaping @Sendable () -> Void) -> JoinableThread {
    JoinableThread(handle: spawnThread(name: name, detached: false, body))
}

/// A thread started by `startJoinableThread`; join it exactly once.
struct JoinableThread: Sendable {
    let handle: pthread_t

    var isCurrent: Bool { pthread_equal(handle, pthread_self()) != 0 }

    /// Waits until the thread has ended, its thread-exit handlers included.
    /// A thread cannot wait for itself: called on it, this detaches it.
    func join() {
        if isCurrent { detach() } else { pthread_join(handle, nil) }
    }

    /// Lets the thread end on its own, unwaited for.
    func detach() { pthread_detach(handle) }
}

private func spawnThread(name: String, detached: Bool, _ body: @escaping @Sendable () -> Void) -> pthread_t {
    final class Box: Sendable {
        let body: @Sendable () -> Void
        let name: String
        init(_ body: @escaping @Sendable () -> Void, _ name: String) { self.body = body; self.name = name }
    }
    let box = Unmanaged.passRetained(Box(body, name)).toOpaque()
    var thread = pthread_t()
    var attr = pthread_attr_t()
    pthread_attr_init(&attr)
    pthread_attr_setdetachstate(&attr, Int32(detached ? PTHREAD_CREATE_DETACHED : PTHREAD_CREATE_JOINABLE))
    let rc = pthread_create(&thread, &attr, { raw in
        let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
        bc_shim_set_thread_name(String(box.name.prefix(15)))
        box.body()
        return nil
    }, box)
    pthread_attr_destroy(&attr)
    precondition(rc == 0, "pthread_create failed: \(rc)")
    return thread
}

/// Writes text to standard error (fd 2) without buffering.
public func writeStandardError(_ text: String) {
    var text = text
    text.withUTF8 { buffer in
        var offset = 0
        while offset < buffer.count {
            let n = write(2, buffer.baseAddress! + offset, buffer.count - offset)
            if n <= 0 { break }
            offset += n
        }
    }
}

/// Sleeps the calling thread.
public func sleepSeconds(_ seconds: Double) {
    var request = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
}
