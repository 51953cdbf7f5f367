import CBatchCore
import Glibc
import Synchronization

/// The worker side of process isolation: what `batchcore-worker` runs.
///
/// It reads a `start` frame, loads the processor (a plugin or a declared
/// processor) and runs its create(), then serves `process` and `estimate`
/// frames one at a time until the engine closes the socket; then it runs
/// destroy() and exits 0.
///
/// SIGTERM asks the call in progress to stop: `is_cancelled` turns true, and
/// the worker exits once the call returns. When the engine goes away (its
/// end of the socket closes) during a call, the worker exits at once: a
/// plugin stuck in a call is not left running without a host.
public enum WorkerServer {
    /// The descriptor the engine hands its end of the socketpair on.
    public static let socketDescriptor: Int32 = 3

    /// Runs the worker; returns the exit status.
    public static func main(arguments: [String]) -> Int32 {
        guard arguments.count == 3, arguments[1] == "--serve-fd", Int32(arguments[2]) == socketDescriptor else {
            writeStandardError("""
                batchcore-worker runs batchcore processors in a process of its own (batch option isolation=process).
                The engine starts it; it is not meant to be run by hand.

                """)
            return 2
        }
        let fd = socketDescriptor
        // A plugin that starts programs must not hand them our socket.
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        // Output a plugin prints must never mix with the frames.
        precondition(fd > 2)
        let server = Server(fd: fd)
        return server.run()
    }
}

private final class Server: @unchecked Sendable {  // unchecked: chunk is the serving thread's alone; the watcher thread reads only the atomics
    let fd: Int32
    let cancel = CancelFlag()
    /// True while a processor call runs (read by the watcher thread).
    let busy = Atomic<Bool>(false)
    let terminating = Atomic<Bool>(false)
    private var chunk = [UInt8](repeating: 0, count: 64 << 10)

    init(fd: Int32) { self.fd = fd }

    func run() -> Int32 {
        var inbox = FrameBuffer()
        guard var first = receive(&inbox), first.kind == .start, let request = try? StartRequest(&first) else {
            return 1
        }
        let err = bc_shim_limit_memory(request.memoryLimit)
        if err != 0 {
            send(refusal("cannot set worker.memory_limit: \(errnoText(err))"))
            return 1
        }
        bc_shim_install_crash_report(fd)
        watchSignalsAndEngine()

        let instance: ProcessorInstance
        let config = StageConfig(label: request.label, values: request.options)
        // prepare() ran in the engine: its bytes come with the request.
        config.shared.prepared = true
        if let shared = request.shared { config.shared.set(shared) }
        do {
            instance = try start(request, config: config)
        } catch {
            let message = (error as? BatchCoreError)?.message ?? "\(error)"
            send(refusal(message))
            return 0
        }
        // The list price create() gave (set_prices) is the engine's to use.
        send(ReadyReport(prices: config.defaultPrices.withLock { $0 }, prepared: nil).encode())

        serve(instance, &inbox)
        instance.stop()
        return 0
    }

    /// Answers process and estimate frames until the engine closes the
    /// socket or the worker is told to terminate.
    private func serve(_ instance: ProcessorInstance, _ inbox: inout FrameBuffer) {
        while !terminating.load(ordering: .relaxed), var frame = receive(&inbox) {
            guard let doc = try? DocumentFrame.decode(&frame) else { break }
            switch frame.kind {
            case .process:
                let call = CallContext(cancelFlag: cancel) { [fd] level, message in
                    var w = FrameWriter(.log)
                    w.i32(level.rawValue)
                    w.string(message)
                    writeAll(fd, w.frame)
                }
                busy.store(true, ordering: .relaxed)
                let outcome = call.waitForFinish(instance.process(call, doc))
                busy.store(false, ordering: .relaxed)
                guard send(ResultFrame.encode(outcome, call)) else { break }
            case .estimate:
                busy.store(true, ordering: .relaxed)
                let estimate = instance.estimate(doc)
                busy.store(false, ordering: .relaxed)
                var w = FrameWriter(.estimated)
                w.optional(estimate) { w, e in w.u64(e.input); w.u64(e.output) }
                guard send(w.frame) else { break }
            default:
                break
            }
        }
    }

    private func start(_ request: StartRequest, config: StageConfig) throws -> ProcessorInstance {
        let processor: Processor
        switch request.kind {
        case .plugin: processor = try NativePlugin(path: request.path)
        case .declared: processor = try DeclaredProcessor(path: request.path)
        default: throw BatchCoreError(.plugin, "a worker process cannot run a \(request.kind.rawValue) processor")
        }
        return try processor.start(config: config)
    }

    private func refusal(_ message: String) -> [UInt8] {
        var w = FrameWriter(.refused)
        w.string(message)
        return w.frame
    }

    @discardableResult
    private func send(_ frame: [UInt8]) -> Bool { writeAll(fd, frame) }

    /// The next frame, or nil at end of stream (the engine closed its end).
    private func receive(_ inbox: inout FrameBuffer) -> FrameReader? {
        while true {
            do {
                if let frame = try inbox.next() { return frame }
            } catch {
                return nil
            }
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                chunk.withUnsafeBytes { inbox.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return nil
            }
        }
    }

    /// One thread turns SIGTERM into cancellation and exits when the engine
    /// disappears during a call.
    private func watchSignalsAndEngine() {
        var term = sigset_t()
        sigemptyset(&term)
        sigaddset(&term, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &term, nil)  // threads started from here on inherit it
        startThread(name: "bc-worker-watch") { [self] in
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, SIGTERM)
            var poll50ms = timespec(tv_sec: 0, tv_nsec: 50_000_000)
            while true {
                if sigtimedwait(&set, nil, &poll50ms) == SIGTERM {
                    cancel.set()
                    terminating.store(true, ordering: .relaxed)
                    // Idle: end the read the main thread is blocked in.
                    if !busy.load(ordering: .relaxed) { shutdown(fd, Int32(SHUT_RD)) }
                }
                var p = pollfd(fd: fd, events: bc_shim_pollrdhup, revents: 0)
                if poll(&p, 1, 0) > 0, p.revents & (bc_shim_pollrdhup | Int16(POLLHUP)) != 0, busy.load(ordering: .relaxed) {
                    _exit(1)
                }
            }
        }
    }
}

/// Writes every byte (blocking); false when the peer is gone.
@discardableResult
func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    bytes.withUnsafeBytes { raw in
        var offset = 0
        while offset < raw.count {
            let n = send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
            if n > 0 { offset += n; continue }
            if n < 0 && errno == EINTR { continue }
            return false
        }
        return true
    }
}
