import DequeModule

/// The one writer of a run's results: a thread that takes finished results
/// in groups (every `every` results or `interval` seconds), appends their
/// lines to the output file, then commits them to the result store with the
/// output's new length (group commit). After a crash the store therefore
/// never claims more output than the file holds, and resuming cuts the file
/// back to the length it recorded (see `OutputRecovery`). Without a store
/// it only writes the output.
final class ResultWriter: ResultSink, @unchecked Sendable {  // @unchecked: mutable state under `monitor`; `failure` also read after the thread is joined
    private let store: (any ResultStore)?
    private let output: OutputWriter?
    private let outputPath: String?
    private let every: Int
    private let interval: UInt64
    private weak var delegate: ResultWriterDelegate?
    private var nextProgressReport: UInt64 = 0
    private let monitor = Monitor()
    private var queue = Deque<DocumentResult>()
    private var closing = false
    private var stopped = false
    private var failure: BatchCoreError? = nil
    private let capacity: Int
    private var thread: JoinableThread? = nil

    init(store: (any ResultStore)?, output: OutputWriter?, outputPath: String?, every: Int, interval: Double) {
        self.store = store
        self.output = output
        self.outputPath = outputPath
        self.every = every
        self.interval = UInt64(interval * 1e9)
        self.capacity = max(4096, every * 4)
    }

    /// Starts the thread; `delegate` hears of commits and failures.
    func start(delegate: ResultWriterDelegate) {
        self.delegate = delegate
        guard store != nil || output != nil else { return }  // nothing to write
        thread = startJoinableThread(name: "bc-journal") { [self] in run() }
    }

    /// Most results one commit holds.
    static func groupLimit(every: Int) -> Int { every * 2 }

    /// How often the run's progress is reported to the store.
    private static let progressEvery: UInt64 = 1_000_000_000

    /// Queues a result; waits while the queue is full (back-pressure).
    func accept(_ result: DocumentResult, persisted: Bool) {
        guard persisted, store != nil || output != nil else { return }
        let wake: Bool = monitor.withLock {
            while queue.count >= capacity && !stopped { monitor.wait() }
            guard !stopped else { return false }
            queue.append(result)
            // The writer waits for a first result, then for a full group (or
            // its interval): waking it for every result would cost a
            // context switch a document.
            return queue.count == 1 || queue.count == every
        }
        if wake { monitor.broadcast() }
    }

    /// Writes what is queued, records how the run ended, stops the thread.
    /// Returns the first error the writer met.
    func close(state: String) -> BatchCoreError? {
        let thread: JoinableThread? = monitor.withLock {
            closing = true
            monitor.broadcast()
            while !stopped && self.thread != nil { monitor.wait() }
            defer { self.thread = nil }
            return self.thread
        }
        thread?.join()
        do {
            try store?.endRun(state: failure == nil ? state : "failed")
        } catch let error as BatchCoreError {
            if failure == nil { failure = error }
        } catch {}
        if let error = output?.flush(), failure == nil { failure = error }
        return failure
    }

    private func run() {
        while true {
            reportProgressWhenDue()
            guard let group = nextGroup() else { continue }
            monitor.broadcast()
            if group.isEmpty { break }
            if failure != nil { continue }  // already stopped: these are re-run on resume
            do {
                try write(group)
                delegate?.committed(group)
            } catch let error as BatchCoreError {
                fail(error)
            } catch {
                fail(BatchCoreError(.io, "results: \(error)"))
            }
        }
        monitor.withLock {
            stopped = true
            queue.removeAll()
        }
        monitor.broadcast()
    }

    /// The next group to write; empty when closing with nothing left; nil
    /// when it is only time to report progress.
    private func nextGroup() -> [DocumentResult]? {
        monitor.withLock {
            if queue.isEmpty && !closing {
                // Without a store there is no progress to report: sleep until a result comes.
                if store == nil { monitor.wait() } else { monitor.wait(until: nextProgressReport) }
            }
            if queue.isEmpty && !closing { return nil }
            let deadline = monotonicNanos() + interval
            while queue.count < every && !closing && monotonicNanos() < deadline {
                monitor.wait(until: deadline)
            }
            let group = Array(queue.prefix(Self.groupLimit(every: every)))
            queue.removeFirst(group.count)
            return group
        }
    }

    private func write(_ group: [DocumentResult]) throws {
        var position: OutputPosition? = nil
        if let output {
            var lines: [UInt8] = []
            for result in group { lines += OutputWriter.line(for: result) }
            if let error = output.write(lines: lines) ?? output.flush() { throw error }
            position = OutputPosition(path: outputPath ?? "", offset: output.offset)
        }
        try store?.commit(group, output: position)
    }

    private func reportProgressWhenDue() {
        guard let store else { return }
        let now = monotonicNanos()
        guard now >= nextProgressReport else { return }
        nextProgressReport = now + Self.progressEvery
        if let progress = delegate?.progress() { store.reportProgress(progress) }
    }

    private func fail(_ error: BatchCoreError) {
        let failure = store == nil ? error : BatchCoreError(.io, error.message
            + "; nothing committed is lost: fix this, then continue with --resume (results not yet committed are re-run)")
        monitor.withLock { self.failure = failure }
        // Told on this thread, a run with nothing in flight would stop at
        // once and close this writer, which waits for this very thread.
        guard let delegate else { return }
        startThread(name: "bc-writer-failed") { delegate.failed(failure) }
    }
}

/// What the writer tells the run.
protocol ResultWriterDelegate: AnyObject, Sendable {
    /// These results are in the store (and the output) now.
    func committed(_ group: [DocumentResult])
    /// Writing failed: the run must stop.
    func failed(_ error: BatchCoreError)
    /// How many documents there are, run now, and sinks wait for their database.
    func progress() -> RunProgress
}
