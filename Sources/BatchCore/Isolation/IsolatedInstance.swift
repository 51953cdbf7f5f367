import Glibc

/// Where a batch runs its processors (batch option `isolation`).
public enum Isolation: String, Sendable, CaseIterable {
    /// In the engine's process, on its worker threads.
    case thread
    /// Each worker thread talks to a child process of its own (`batchcore-worker`)
    /// that runs the processor: a crash, a hang or a leak ends that process,
    /// not the batch.
    case process
    /// `process` for plugins that declare they read hostile documents
    /// (BC_PLUGIN_FLAG_PREFERS_PROCESS), `thread` for every other processor.
    case auto

    /// Where `info`'s stages run under this setting.
    func resolved(for info: ProcessorInfo) -> Isolation {
        self == .auto ? (info.prefersProcess ? .process : .thread) : self
    }

    /// Starts `processor` for one stage as `options.isolation` says.
    ///
    /// In process mode: plugins and declared processors run in worker
    /// processes; `exec` is unchanged (each command is a child process
    /// already); a processor the host registered lives in the host's memory,
    /// so it cannot, and the stage does not start.
    static func start(_ processor: Processor, config: StageConfig, options: BatchOptions) throws -> ProcessorInstance {
        let info = processor.info
        guard options.isolation.resolved(for: info) == .process, info.kind != .builtin else {
            return try processor.start(config: config)
        }
        guard info.kind == .plugin || info.kind == .declared, let path = info.path else {
            throw BatchCoreError(.option,
                "stage '\(config.label)': processor '\(info.name)' was registered by the host program and lives in its memory, "
                + "so it cannot run with isolation=process; use isolation=thread, or make it a plugin")
        }
        // One prepare() for the stage, here; every worker's create() gets its bytes.
        try (processor as? NativePlugin)?.prepare(config: config)
        let limits = HostileDocumentLimits(for: info, options: options)
        var request = StartRequest(kind: info.kind, path: path, label: config.label, options: config.values,
                                   memoryLimit: limits.memoryLimit ?? 0)
        request.shared = config.shared.bytes
        let instance = try IsolatedInstance(executable: try WorkerProcess.executable(), request: request,
                                            options: options, defaultTimeout: limits.defaultTimeout)
        config.defaultPrices.withLock { $0 = instance.listPrices }
        return instance
    }
}

/// A stage whose processor runs in worker processes. Each call checks out
/// an idle worker (or starts one), hands it the document, and waits for its
/// answer; so there is at most one worker per engine worker thread, and the
/// scheduler, limiters, journal and stats work as with threads.
///
/// A worker that dies during a call fails that call with `.retry` and a
/// message naming the signal; one that overruns `call.deadline` is stopped
/// (SIGTERM, SIGKILL after `timeout.grace`). Either way it is reaped and the
/// next call starts a fresh one.
final class IsolatedInstance: ProcessorInstance, @unchecked Sendable {  // unchecked: idle workers sit behind a lock; the rest is set once in init
    private let executable: String
    private let request: StartRequest
    private let grace: Double
    private let maxDocuments: Int?
    /// The deadline of a call the batch gave none (HostileDocumentLimits).
    private let defaultTimeout: Double?
    private let idle = Locked<[WorkerProcess]>([])
    /// The list price create() gave in the first worker.
    private(set) var listPrices: TokenPrices? = nil

    /// Starts the first worker at once, so a processor whose create()
    /// refuses stops the batch before it begins, with the plugin's message.
    init(executable: String, request: StartRequest, options: BatchOptions, defaultTimeout: Double? = nil) throws {
        self.executable = executable
        self.request = request
        self.grace = options.timeoutGrace
        self.maxDocuments = options.workerMaxDocuments
        self.defaultTimeout = defaultTimeout
        let first = try WorkerProcess.start(executable: executable, request: request, deadline: nil, grace: grace)
        listPrices = first.listPrices
        idle.withLock { $0.append(first) }
    }

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
        return try WorkerProcess.start(executable: executable, request: request, deadline: call.deadline,
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
