import Glibc

/// A stage whose processor runs in worker processes. Each call checks out
/// an idle worker (or starts one), hands it the document, and waits for its
/// answer; so there is at most one worker per engine worker thread, and the
/// scheduler, limiters, journal and stats work as with threads.
///
/// A worker that dies during a call fails that call with `.retry` and a
/// message naming the signal; one that overruns `call.deadline` is stopped
/// (SIGTERM, SIGKILL after `timeout.grace`). Either way it is reaped and the
/// next call starts a fresh one.
final class IsolatedInstance: ProcessorInstance, @unchecked Sendable {  // unchecked: idle workers sit behind a lock; the rest is set in init
    private let command: WorkerCommand
    private var request: StartRequest
    private let grace: Double
    private let maxDocuments: Int?
    /// The deadline of a call the batch gave none (HostileDocumentLimits).
    private let defaultTimeout: Double?
    private let idle = Locked<[WorkerProcess]>([])
    /// The list price create() gave in the first worker.
    private(set) var listPrices: TokenPrices? = nil

    /// Starts the first worker at once, so a processor whose create()
    /// refuses stops the batch before it begins, with the plugin's message.
    /// A request without shared bytes lets that worker run prepare(); what
    /// it made goes to every later worker.
    init(command: WorkerCommand, request: StartRequest, options: BatchOptions, defaultTimeout: Double? = nil) throws {
        self.command = command
        self.request = request
        self.grace = options.timeoutGrace
        self.maxDocuments = options.workerMaxDocuments
        self.defaultTimeout = defaultTimeout
        let first = try WorkerProcess.start(command: command, request: request, deadline: nil, grace: grace)
        listPrices = first.listPrices
        if self.request.shared == nil { self.request.shared = first.prepared }
        idle.withLock { $0.append(first) }
    }

    /// The shared bytes every worker starts with (prepare()'s result); nil without.
    var shared: [UInt8]? { request.shared }

    var enforcesDeadline: Bool { true }

    func process(_ call: CallContext, _ doc: DocumentInput) -> Outcome {
        if call.deadline == nil, let defaultTimeout {
            call.timeout = defaultTimeout
            call.deadline = monotonicNanos() + UInt64(defaultTimeout * 1e9)
        }
        let worker: WorkerProcess
        do {
            worker = try checkout(call)
        } catch let error as BatchCoreError {
            if error.code == .timeout { return overran(call) }
            call.error = error.message
            return .retry
        } catch {
            call.error = "\(error)"
            return .retry
        }
        let sent = worker.send(DocumentFrame.encode(.process, doc), until: call.deadline)
        var wait = sent ?? worker.receive(until: call.deadline) { call.isCancelled }
        while true {
            switch wait {
            case .frame(var frame) where frame.kind == .log:
                if let level = try? frame.i32(), let message = try? frame.string() { call.log(LogLevel(clamping: level), message) }
            case .frame(var frame) where frame.kind == .result:
                guard let outcome = try? ResultFrame.decode(&frame, into: call) else { return lost(worker, call) }
                worker.documents += 1
                checkin(worker)
                return outcome
            case .frame, .closed:
                return lost(worker, call)
            case .deadline:
                worker.terminate(grace: grace)
                return overran(call)
            case .cancelled:
                return cancelled(worker, call)
            }
            wait = worker.receive(until: call.deadline) { call.isCancelled }
        }
    }

    func estimate(_ doc: DocumentInput) -> TokenEstimate? {
        let call = CallContext(cancelFlag: CancelFlag())
        guard let worker = try? checkout(call) else { return nil }
        let deadline = monotonicNanos() + 60_000_000_000
        guard worker.send(DocumentFrame.encode(.estimate, doc), until: deadline) == nil,
              case .frame(var frame) = worker.receive(until: deadline), frame.kind == .estimated,
              let estimate = try? frame.optional({ TokenEstimate(input: try $0.u64(), output: try $0.u64()) }) else {
            worker.terminate(grace: grace)
            return nil
        }
        idle.withLock { $0.append(worker) }
        return estimate
    }

    /// After the last call: every worker runs destroy() and exits; those
    /// that take longer than `timeout.grace` are killed.
    func stop() {
        let workers = idle.withLock { list in defer { list = [] }; return list }
        workers.forEach { $0.closeSocket() }  // all at once: they wind down in parallel
        let deadline = monotonicNanos() + UInt64(grace * 1e9)
        workers.forEach { $0.reap(until: deadline) }
    }

    // MARK: Workers

    /// An idle worker, or a new one. Workers that died while idle (killed
    /// from outside) are reaped and replaced without failing anything.
    private func checkout(_ call: CallContext) throws -> WorkerProcess {
        while let worker = idle.withLock({ $0.popLast() }) {
            if worker.isAlive { return worker }
            worker.reap(until: monotonicNanos())
        }
        return try WorkerProcess.start(command: command, request: request, deadline: call.deadline,
                                       isCancelled: { call.isCancelled }, grace: grace)
    }

    /// Back to the pool, unless it has served `worker.max_documents`: then
    /// it retires and the next call starts a fresh one.
    private func checkin(_ worker: WorkerProcess) {
        if let maxDocuments, worker.documents >= maxDocuments {
            worker.retire(grace: grace)
        } else {
            idle.withLock { $0.append(worker) }
        }
    }

    /// The worker died (or spoke nonsense) during the call: retry elsewhere.
    private func lost(_ worker: WorkerProcess, _ call: CallContext) -> Outcome {
        let exit = worker.reap(until: monotonicNanos() + 1_000_000_000)
        call.error = worker.deathMessage(exit, memoryLimit: request.memoryLimit)
        return .retry
    }

    /// A hard cancel: the worker gets SIGTERM, so the call sees
    /// `is_cancelled`; an answer within `timeout.grace` still counts.
    private func cancelled(_ worker: WorkerProcess, _ call: CallContext) -> Outcome {
        worker.child.signalGroup(SIGTERM)
        let deadline = monotonicNanos() + UInt64(grace * 1e9)
        while case .frame(var frame) = worker.receive(until: deadline) {
            if frame.kind == .result, let outcome = try? ResultFrame.decode(&frame, into: call) {
                worker.retire(grace: grace)
                return outcome
            }
        }
        worker.terminate(grace: 0)
        call.error = "cancelled"
        return .retry
    }

    /// The call ran out of time: it counts as a timeout and is retried.
    private func overran(_ call: CallContext) -> Outcome {
        call.markOverran()
        return .retry
    }
}
