/// Runs the batches of one engine on a shared pool of worker threads.
///
/// - at most `maxWorkers` documents run at once over all batches, and at
///   most a batch's own cap within it;
/// - free workers go round-robin over the batches that can take one, so
///   every batch makes progress;
/// - documents waiting for a retry sit in their batch's delay heap and hold
///   no worker.
final class Scheduler: @unchecked Sendable {
    private let monitor = Monitor()
    private var tenants: [Tenant] = []
    private var cursor = 0
    private var maxWorkers: Int
    private var busy = 0
    private var threads = 0
    private var shuttingDown = false
    /// Worker threads stay until shutdown, which joins them: none may still
    /// be ending (running its thread-exit handlers) when the engine is gone.
    private var running: [JoinableThread] = []
    private var ended: [JoinableThread] = []  // left their loop, not yet joined
    private var joinedAll = false

    init(maxWorkers: Int) {
        self.maxWorkers = maxWorkers
    }

    func setMaxWorkers(_ n: Int) {
        monitor.withLock {
            maxWorkers = n
            spawnThreadsIfNeeded()
        }
        monitor.broadcast()
    }

    /// Starts running a batch; returns its tenant handle.
    func add(_ workload: Workload, cap: Int, inOrder: Bool = false) -> Tenant {
        let tenant = Tenant(workload: workload, cap: cap, inOrder: inOrder)
        monitor.withLock {
            tenants.append(tenant)
            spawnThreadsIfNeeded()
        }
        monitor.broadcast()
        return tenant
    }

    /// Stops dispatching the tenant's documents; in-flight ones finish.
    func cancel(_ tenant: Tenant) {
        let completeNow: Bool = monitor.withLock {
            guard !tenant.cancelled, !tenant.done else { return false }
            tenant.cancelled = true
            return completeIfDone(tenant)
        }
        if completeNow { tenant.workload.finished(cancelled: true) }
        monitor.broadcast()
    }

    var isShutDown: Bool { monitor.withLock { shuttingDown } }

    /// The running batches with the workers each uses now, and the workers in use over all.
    func occupancy() -> (workloads: [(workload: Workload, running: Int)], busy: Int, maxWorkers: Int) {
        monitor.withLock { (tenants.map { ($0.workload, $0.running) }, busy, maxWorkers) }
    }

    /// Stops every worker thread and joins it. On a worker thread (the last
    /// reference to the engine let go inside a callback) that thread cannot
    /// wait for itself: it is detached and leaves on its own.
    func shutdown() {
        let gone: [JoinableThread] = monitor.withLock {
            guard !shuttingDown else { return [] }
            shuttingDown = true
            monitor.broadcast()
            let ownThread = running.contains(where: \.isCurrent) ? 1 : 0
            while threads > ownThread { monitor.wait() }
            joinedAll = true
            defer { ended = [] }
            return ended
        }
        gone.forEach { $0.join() }
    }

    /// Threads wanted: enough for every batch's cap, within the global cap.
    /// Threads beyond it wait, idle, for the next batch or for shutdown.
    private var wantedThreads: Int {
        min(maxWorkers, tenants.reduce(0) { $0 + $1.cap })
    }

    private func spawnThreadsIfNeeded() {
        while threads < wantedThreads {
            threads += 1
            running.append(startJoinableThread(name: "bc-worker") { [self] in workerLoop() })
        }
    }

    /// Removes a finished tenant; true when the caller must call `finished`.
    private func completeIfDone(_ tenant: Tenant) -> Bool {
        guard !tenant.done, tenant.isComplete else { return false }
        tenant.done = true
        tenants.removeAll { $0 === tenant }
        if cursor >= tenants.count { cursor = 0 }
        return true
    }

    /// Picks the next tenant with work, round-robin, and reserves a slot.
    private func pick(now: UInt64) -> (Tenant, Job?)? {
        guard busy < maxWorkers, !tenants.isEmpty else { return nil }
        for step in 0..<tenants.count {
            let index = (cursor + step) % tenants.count
            let tenant = tenants[index]
            guard tenant.canDispatch(now: now) else { continue }
            cursor = (index + 1) % tenants.count
            tenant.running += 1
            busy += 1
            if let first = tenant.retries.min, first.due <= now {
                return (tenant, tenant.retries.removeMin().job)
            }
            return (tenant, nil)
        }
        return nil
    }

    /// Earliest time a waiting tenant may have something to start.
    private func nextDue(now: UInt64) -> UInt64? {
        tenants.compactMap { $0.nextStart(now: now) }.filter { $0 > now }.min()
    }

    private func workerLoop() {
        monitor.lock()
        while !shuttingDown {
            guard let (tenant, retryJob) = pick(now: monitorNow()) else {
                if let due = nextDue(now: monitorNow()) {
                    monitor.wait(until: due)
                } else {
                    monitor.wait()
                }
                continue
            }
            monitor.unlock()

            var outcome = JobOutcome.abandoned
            var exhausted = false
            if let job = retryJob ?? tenant.workload.nextJob() {
                outcome = tenant.workload.execute(job)
            } else {
                exhausted = true
            }
            if case .detached = outcome {  // replaced by `replaceStuckWorker`
                monitor.withLock { leave(stuck: true) }
                return
            }

            monitor.lock()
            if exhausted { tenant.exhausted = true }
            if settle(tenant, outcome) {
                monitor.unlock()
                tenant.workload.finished(cancelled: tenant.cancelled)
                monitor.lock()
                monitor.broadcast()
            }
        }
        threads -= 1
        leave()
        monitor.unlock()
        monitor.broadcast()  // shutdown waits for the last thread
    }

    /// The calling worker's thread is about to end: `shutdown` joins it. A
    /// thread back from an abandoned call is nobody's to wait for (shutdown
    /// does not), and one ending after shutdown has no one left to join it:
    /// those are detached.
    private func leave(stuck: Bool = false) {
        guard let index = running.firstIndex(where: \.isCurrent) else { return }
        let thread = running.remove(at: index)
        if stuck || joinedAll { thread.detach() } else { ended.append(thread) }
    }

    /// A worker is stuck in a call that overran its deadline: its document
    /// moves on with `outcome` as if the call had returned, and a new thread
    /// takes its place. The stuck thread leaves when its call returns.
    func replaceStuckWorker(_ tenant: Tenant, _ outcome: JobOutcome) {
        let completeNow: Bool = monitor.withLock {
            threads -= 1
            spawnThreadsIfNeeded()
            return settle(tenant, outcome)
        }
        if completeNow { tenant.workload.finished(cancelled: tenant.cancelled) }
        monitor.broadcast()
    }

    /// Frees the worker slot of a finished call and queues what comes next;
    /// true when the batch is over and the caller must call `finished`.
    private func settle(_ tenant: Tenant, _ outcome: JobOutcome) -> Bool {
        tenant.running -= 1
        busy -= 1
        switch outcome {
        case .retry(let job, let after):
            tenant.delay(job, until: monotonicNanos() &+ after)
            monitor.broadcast()  // a sleeping worker may need to wake sooner
        case .rateLimited(let job, let until):
            tenant.delay(job, until: until)
            tenant.notBefore = max(tenant.notBefore, until)
            monitor.broadcast()
        case .finished, .abandoned, .detached:
            break
        }
        return completeIfDone(tenant)
    }

    @inline(__always) private func monitorNow() -> UInt64 { monotonicNanos() }
}
