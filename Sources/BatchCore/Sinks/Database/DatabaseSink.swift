/// Copies a run's results into a database, exactly once with the journal:
/// a thread reads what the journal has committed past its mark, upserts it
/// by `id` (`sink.batch_size` rows or every `sink.interval`, one transaction
/// each; up to `catchUpRows` at once when behind), then moves the
/// mark, which the journal records every second, when the database stops
/// answering and at the end. After a crash, rows written but not yet
/// recorded are written again, which the upsert makes harmless.
///
/// A database that is down or busy is retried with backoff; documents go
/// on finishing until `sink.max_backlog` wait for it, then workers wait.
/// A permanent error (no such column, read-only, a type mismatch) stops the run.
final class DatabaseSink: ResultSink, @unchecked Sendable {  // @unchecked: mutable state under `monitor`; the feed and database are used by the sink's thread only (and by `init`/`close` before/after it)
    let url: SinkURL
    let columns: [SinkColumn]
    private let database: any SinkDatabase
    private let feed: JournalFeed
    private let batchSize: Int
    private let interval: UInt64
    private let maxBacklog: Int
    private weak var delegate: DatabaseSinkDelegate?
    private let monitor = Monitor()
    /// Results the journal committed that the database does not hold yet.
    private var committedUnwritten: Int
    /// Results finished (committed or not) that the database does not hold yet.
    private var backlog: Int
    private var closing = false
    private var givingUp = false
    private var stopped = false
    private var failure: BatchCoreError? = nil
    private var thread: JoinableThread? = nil

    /// Opens the database and checks the table, before anything runs.
    init(url: SinkURL, columns: [SinkColumn], journal: String, options: BatchOptions) throws {
        self.url = url
        self.columns = columns
        do {
            database = try SinkDatabases.open(url)
            try database.prepareTable(url.table, columns: columns)
        } catch let failure as SinkFailure {
            throw BatchCoreError(.option, failure.message)
        }
        feed = try JournalFeed(journal: journal, sink: url, parseOutput: columns.contains { $0.isMapped }, recording: true)
        batchSize = options.sinkBatchSize
        interval = UInt64(options.sinkInterval * 1e9)
        maxBacklog = options.sinkMaxBacklog
        committedUnwritten = try feed.unwritten()
        backlog = committedUnwritten
    }

    func start(delegate: DatabaseSinkDelegate) {
        self.delegate = delegate
        thread = startJoinableThread(name: "bc-sink") { [self] in run() }
    }

    /// Waits while `sink.max_backlog` results wait for the database.
    func accept(_ result: DocumentResult, persisted: Bool) {
        guard persisted else { return }
        monitor.withLock {
            while backlog >= maxBacklog && !stopped { monitor.wait() }
            backlog += 1
        }
    }

    /// The journal holds these now: the sink may copy them.
    func committed(_ count: Int) {
        monitor.withLock { committedUnwritten += count }
        monitor.broadcast()
    }

    /// A hard stop: no more retries; what is not written is written on resume.
    func giveUp() {
        monitor.withLock { givingUp = true }
        monitor.broadcast()
    }

    /// Writes what the journal committed, then stops the thread. Call once
    /// the journal's writer is closed. Returns the error that stopped the sink.
    func close() -> BatchCoreError? {
        monitor.withLock { closing = true }
        monitor.broadcast()
        thread?.join()
        thread = nil
        return monitor.withLock { failure }
    }

    private func run() {
        defer {
            try? feed.recordMark()
            monitor.withLock { stopped = true }
            monitor.broadcast()
        }
        var nextMarkRecord: UInt64 = 0
        while waitForWork() {
            do {
                let (rows, last) = try feed.next(nextWriteSize())
                if rows.isEmpty {
                    if monitor.withLock({ closing }) { return }
                    monitor.withLock { committedUnwritten = 0 }
                    continue
                }
                guard try write(try SinkColumns.values(of: rows, columns, for: url)) else { return }
                feed.advance(to: last)
                if monotonicNanos() >= nextMarkRecord {
                    try feed.recordMark()
                    nextMarkRecord = monotonicNanos() + Self.markRecordInterval
                }
                monitor.withLock {
                    committedUnwritten = max(0, committedUnwritten - rows.count)
                    backlog = max(0, backlog - rows.count)
                }
                monitor.broadcast()
            } catch let error as SinkFailure {
                return fail(error.message)
            } catch {
                return fail("\(error)")
            }
        }
    }

    /// A batch, or all the journal committed when more: a sink behind the
    /// journal (after a pause, on resume, or slower than the documents)
    /// catches up with up to `catchUpRows` a transaction, fewer round trips.
    private func nextWriteSize() -> Int {
        max(batchSize, min(monitor.withLock { committedUnwritten }, Self.catchUpRows))
    }

    static let catchUpRows = 10_000

    /// How often the journal records how far the database holds the results.
    static let markRecordInterval: UInt64 = 1_000_000_000

    /// Waits for a batch, the interval or the close; false when given up.
    private func waitForWork() -> Bool {
        monitor.withLock {
            let deadline = monotonicNanos() + interval
            while committedUnwritten < batchSize && !closing && !givingUp && monotonicNanos() < deadline {
                monitor.wait(until: deadline)
            }
            return !givingUp
        }
    }

    /// Upserts, retrying a database that is down or busy with backoff;
    /// false when given up meanwhile.
    private func write(_ values: [[SinkValue]]) throws -> Bool {
        var backoff = 0.1
        var waiting = false
        while true {
            do {
                try database.upsert(values, table: url.table, columns: columns)
                if waiting { delegate?.sinkWaiting(self, reason: nil) }
                return true
            } catch SinkFailure.transient(let message) {
                if !waiting {
                    try? feed.recordMark()  // what the database holds, while it waits
                    delegate?.sinkWaiting(self, reason: message)
                }
                waiting = true
                let resume = monotonicNanos() + UInt64(backoff * 1e9)
                backoff = min(backoff * 2, 5)
                let gaveUp = monitor.withLock {
                    while !givingUp && monotonicNanos() < resume { monitor.wait(until: resume) }
                    return givingUp
                }
                if gaveUp { return false }
            }
        }
    }

    private func fail(_ message: String) {
        let error = BatchCoreError(.io, message
            + "; nothing is lost: fix this, then continue with --resume (the results the database lacks are written then)")
        monitor.withLock { failure = error }
        delegate?.failed(error)
    }
}

/// What a database sink tells the run.
protocol DatabaseSinkDelegate: AnyObject, Sendable {
    /// The database cannot be written to now (`reason`), or can again (nil).
    func sinkWaiting(_ sink: DatabaseSink, reason: String?)
    /// The sink stopped for good: the run must stop.
    func failed(_ error: BatchCoreError)
}
