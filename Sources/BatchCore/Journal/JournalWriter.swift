import DequeModule
import FoundationEssentials

/// The journal's one writer thread. Results queue up; every `every` results
/// or `interval` seconds the writer appends their lines to the output file,
/// then commits their rows together with the output's new length in one
/// transaction (group commit). After a crash the journal therefore never
/// claims more output than the file holds, and resuming truncates the file
/// to the length the journal recorded (see `OutputRecovery`).
final class JournalWriter: @unchecked Sendable {
    private let journal: Journal
    private let output: OutputWriter?
    private let outputPath: String?
    private let every: Int
    private let interval: UInt64
    private let onCommit: @Sendable ([DocumentResult]) -> Void
    private let onFailure: @Sendable (BatchCoreError) -> Void
    private let progress: @Sendable () -> (total: UInt64?, inFlight: UInt64)
    private var nextProgressReport: UInt64 = 0
    private let monitor = Monitor()
    private var queue = Deque<DocumentResult>()
    private var closing = false
    private var stopped = false
    private var failure: BatchCoreError? = nil
    private var nextSeq: Int64
    private let capacity: Int
    private var thread: JoinableThread? = nil

    init(journal: Journal, output: OutputWriter?, outputPath: String?, every: Int, interval: Double,
         onCommit: @escaping @Sendable ([DocumentResult]) -> Void,
         onFailure: @escaping @Sendable (BatchCoreError) -> Void,
         progress: @escaping @Sendable () -> (total: UInt64?, inFlight: UInt64)) throws {
        self.journal = journal
        self.output = output
        self.outputPath = outputPath
        self.every = every
        self.interval = UInt64(interval * 1e9)
        self.onCommit = onCommit
        self.onFailure = onFailure
        self.progress = progress
        self.capacity = max(4096, every * 4)
        let max = try journal.writerDB.prepare("SELECT coalesce(max(out_seq), 0) FROM documents")
        nextSeq = try max.step() ? max.int(0) + 1 : 1
        thread = startJoinableThread(name: "bc-journal") { [self] in run() }
    }

    /// Most results one commit holds.
    static func groupLimit(every: Int) -> Int { every * 2 }

    /// How often the run's progress is written for `status`.
    private static let progressEvery: UInt64 = 1_000_000_000

    /// Queues a result; waits while the queue is full (back-pressure).
    func submit(_ result: DocumentResult) {
        monitor.withLock {
            while queue.count >= capacity && !stopped { monitor.wait() }
            if !stopped { queue.append(result) }
        }
        monitor.broadcast()
    }

    /// Commits what is queued, records how the run ended, stops the thread.
    /// Returns the first error the writer met.
    func close(state: String) -> BatchCoreError? {
        let thread: JoinableThread? = monitor.withLock {
            closing = true
            monitor.broadcast()
            while !stopped { monitor.wait() }
            defer { self.thread = nil }
            return self.thread
        }
        thread?.join()
        let db = journal.writerDB
        do {
            try db.prepare("UPDATE runs SET ended_at = ?, state = ? WHERE run = ?")
                .bind(.double(Date().timeIntervalSince1970), .text(failure == nil ? state : "failed"), .int(journal.run)).run()
            try db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        } catch let error as BatchCoreError {
            if failure == nil { failure = error }
        } catch {}
        return failure
    }

    private func run() {
        let insert: SQLiteStatement
        let setOffset: SQLiteStatement
        let countProcessed: SQLiteStatement
        do {
            insert = try journal.writerDB.prepare(JournalRows.insert)
            setOffset = try journal.writerDB.prepare(
                "INSERT INTO meta (key, value) VALUES ('output_offset', ?), ('output_path', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
            countProcessed = try journal.writerDB.prepare("UPDATE runs SET processed = processed + ? WHERE run = ?")
        } catch let error as BatchCoreError {
            fail(error)
            finishThread()
            return
        } catch { return }

        while true {
            reportProgressWhenDue()
            let next: [DocumentResult]? = monitor.withLock {
                if queue.isEmpty && !closing { monitor.wait(until: nextProgressReport) }
                if queue.isEmpty && !closing { return nil }
                let deadline = monotonicNanos() + interval
                while queue.count < every && !closing && monotonicNanos() < deadline {
                    monitor.wait(until: deadline)
                }
                let group = Array(queue.prefix(Self.groupLimit(every: every)))
                queue.removeFirst(group.count)
                return group
            }
            guard let group = next else { continue }
            monitor.broadcast()
            if group.isEmpty { break }
            if failure != nil { continue }  // already stopped: these are re-run on resume
            do {
                try commit(group, insert: insert, setOffset: setOffset, countProcessed: countProcessed)
                onCommit(group)
            } catch let error as BatchCoreError {
                fail(error)
            } catch {
                fail(BatchCoreError(.io, "journal '\(journal.path)': \(error)"))
            }
        }
        finishThread()
    }

    private func commit(_ group: [DocumentResult], insert: SQLiteStatement, setOffset: SQLiteStatement,
                        countProcessed: SQLiteStatement) throws {
        var offset: Int64? = nil
        if let output {
            var lines: [UInt8] = []
            for result in group { lines += OutputWriter.line(for: result) }
            if let error = output.write(lines: lines) ?? output.flush() { throw error }
            offset = output.offset
        }
        let now = Date().timeIntervalSince1970
        try journal.writerDB.transaction {
            for result in group {
                JournalRows.bindInsert(insert, result, seq: nextSeq, run: journal.run, now: now)
                try insert.run()
                nextSeq += 1
            }
            if let offset {
                setOffset.bind(.text(String(offset)), .text(outputPath ?? ""))
                try setOffset.run()
            }
            countProcessed.bind(.int(Int64(group.count)), .int(journal.run))
            try countProcessed.run()
        }
    }

    /// The run's progress, in the journal's lock file, for `status`.
    private func reportProgressWhenDue() {
        let now = monotonicNanos()
        guard now >= nextProgressReport else { return }
        nextProgressReport = now + Self.progressEvery
        let (total, inFlight) = progress()
        journal.lock.update(total: total, inFlight: inFlight)
    }

    private func fail(_ error: BatchCoreError) {
        let failure = BatchCoreError(.io, error.message
            + "; nothing committed is lost: fix this, then continue with --resume (results not yet committed are re-run)")
        monitor.withLock { self.failure = failure }
        onFailure(failure)
    }

    private func finishThread() {
        monitor.withLock {
            stopped = true
            queue.removeAll()
        }
        monitor.broadcast()
    }
}
