/// Runs the batches of one engine on a shared pool of worker threads.
///
/// - at most `maxWorkers` documents run at once over all batches whose calls
///   may block a thread (a non-blocking processor's pending calls hold no
///   thread, so only their batch's cap and their tenant's bound them), at
///   most a tenant's cap (`tenant.max_workers`) over its batches, and at
///   most a batch's own cap within it;
/// - free workers go round-robin first over the tenants that can take one,
///   then over that tenant's batches, so every batch makes progress;
/// - documents waiting for a retry sit in their run's work queue and hold
///   no worker; a call pending (finished later by another thread) holds its
///   slot but not a thread;
/// - threads are started as calls take them: one spare beyond those in a
///   call that may block, up to the slots the runs may use, so the calls of
///   a non-blocking processor (thousands of asynchronous calls in flight)
///   need only a few threads.
///
/// The scheduler holds a run while it runs and lets go of it when it ends.
final class Scheduler: @unchecked Sendable {  // @unchecked: every field guarded by `monitor`
    private let monitor: Monitor
    /// Every tenant named so far (a cap outlives its batches); `active` holds those with runs.
    private var groups: [String: TenantGroup] = [:]
    private var active: [TenantGroup] = []
    /// Runs that ended away from a worker, for a worker to finish: never on
    /// a processor's own thread, which `finished` may have to join.
    private var ending: [Workload] = []
    private var cursor = 0
    private var maxWorkers: Int
    private var busy = 0
    /// Slots taken by runs whose calls may block a thread: what `maxWorkers` caps.
    private var threadBusy = 0
    private var threads = 0
    /// Threads inside a run's `runNext` (the others are spare).
    private var inCalls = 0
    private var shuttingDown = false
    /// Worker threads stay until shutdown, which joins them: none may still
    /// be ending (running its thread-exit handlers) when the engine is gone.
    private var running: [JoinableThread] = []
    private var ended: [JoinableThread] = []  // left their loop, not yet joined
    private var joinedAll = false
    /// Where pending calls that finished on a host's thread go on. It
    /// completes them without waking the workers (`complete(_:_:waking:)`)
    /// and wakes them once per batch of finishes: a host's loop finishes
    /// hundreds at a time, and a wake for each made the workers and the
    /// relay take turns at a core the loop needed.
    let finishRelay: FinishRelay

    init(maxWorkers: Int) {
        self.maxWorkers = maxWorkers
        let monitor = Monitor()
        self.monitor = monitor
        finishRelay = FinishRelay(afterBatch: { monitor.broadcast() })
    }

    func setMaxWorkers(_ n: Int) {
        monitor.withLock {
            maxWorkers = n
            spawnThreadsIfNeeded()
        }
        monitor.broadcast()
    }

    /// Caps the slots of every run of `tenant` together (nil: no cap of its own).
    func setTenantCap(_ tenant: String, _ cap: Int?) {
        monitor.withLock {
            group(tenant).cap = cap
            spawnThreadsIfNeeded()
        }
        monitor.broadcast()
    }

    /// Starts giving the run worker slots.
    func add(_ run: Workload) {
        monitor.withLock {
            let group = group(run.tenant.name)
            if group.runs.isEmpty { active.append(group) }
            group.add(run)
            spawnThreadsIfNeeded()
        }
        monitor.broadcast()
    }

    private func group(_ tenant: String) -> TenantGroup {
        if let group = groups[tenant] { return group }
        let group = TenantGroup(name: tenant)
        groups[tenant] = group
        return group
    }

    /// Stops dispatching the run's documents; in-flight ones finish.
    func cancel(_ run: Workload) {
        let completeNow: Bool = monitor.withLock {
            let tenant = run.tenant
            guard !tenant.cancelled, !tenant.done else { return false }
            tenant.cancelled = true
            return completeIfDone(run)
        }
        if completeNow { run.finished(cancelled: true) }
        monitor.broadcast()
    }

    /// Pauses or resumes dispatching the run's documents (in-flight ones
    /// go on); false when the run has ended or is cancelled.
    func setPaused(_ run: Workload, _ paused: Bool) -> Bool {
        let changed: Bool = monitor.withLock {
            let tenant = run.tenant
            guard !tenant.cancelled, !tenant.done else { return false }
            tenant.paused = paused
            return true
        }
        monitor.broadcast()
        return changed
    }

    /// Adds work to a run that has not ended: `requeue` puts jobs in its
    /// queue while the run cannot end, then its workers are woken. Returns
    /// what `requeue` returned, or nil when the run has ended or is cancelled.
    func reopen<T>(_ run: Workload, _ requeue: () -> T) -> T? {
        let added: T? = monitor.withLock {
            let tenant = run.tenant
            guard !tenant.cancelled, !tenant.done else { return nil }
            defer { tenant.wake() }
            return requeue()
        }
        monitor.broadcast()
        return added
    }

    var isShutDown: Bool { monitor.withLock { shuttingDown } }

    /// The running batches with the workers each uses now, the tenants' caps,
    /// and the workers in use over all.
    func occupancy() -> Occupancy {
        monitor.withLock {
            Occupancy(workloads: active.flatMap(\.runs).map { ($0, $0.tenant.running) },
                      tenantCaps: groups.compactMapValues(\.cap), busy: busy, maxWorkers: maxWorkers)
        }
    }

    struct Occupancy {
        var workloads: [(workload: Workload, running: Int)]
        var tenantCaps: [String: Int]
        var busy: Int
        var maxWorkers: Int
    }

    /// Stops every worker thread and joins it. On a worker thread (the last
    /// reference to the engine let go inside a callback) that thread cannot
    /// wait for itself: it is detached and leaves on its own.
    func shutdown() {
        finishRelay.shutdown()
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

    /// Most threads wanted: enough for every tenant's cap, within the global
    /// cap. Threads beyond it wait, idle, for the next run or for shutdown.
    private var wantedThreads: Int {
        min(maxWorkers, active.reduce(0) { $0 + $1.wantedThreads })
    }

    /// Keeps one spare thread beyond those in a call, within `wantedThreads`.
    private func spawnThreadsIfNeeded() {
        while threads - inCalls < 1 && threads < wantedThreads {
            threads += 1
            running.append(startJoinableThread(name: "bc-worker") { [self] in workerLoop() })
        }
    }

    /// Removes a finished run; true when the caller must call `finished`.
    private func completeIfDone(_ run: Workload) -> Bool {
        let tenant = run.tenant
        guard !tenant.done, tenant.isComplete else { return false }
        tenant.done = true
        let group = group(tenant.name)
        group.remove(run)
        if group.runs.isEmpty {
            active.removeAll { $0 === group }
            if cursor >= active.count { cursor = 0 }
        }
        return true
    }

    /// Picks the next run that may take a worker, round-robin over the
    /// tenants then within the tenant, and reserves a slot.
    private func pick(now: UInt64) -> Workload? {
        guard !active.isEmpty else { return nil }
        let threadsFree = threadBusy < maxWorkers
        for step in 0..<active.count {
            let index = (cursor + step) % active.count
            let group = active[index]
            guard let run = group.pick(now: now, blocking: threadsFree) else { continue }
            cursor = (index + 1) % active.count
            run.tenant.running += 1
            group.running += 1
            busy += 1
            if run.callsBlockThreads { threadBusy += 1 }
            return run
        }
        return nil
    }

    /// Earliest time a waiting run may have something to start.
    private func nextDue(now: UInt64) -> UInt64? {
        active.flatMap(\.runs).compactMap { $0.tenant.nextStart }.filter { $0 > now }.min()
    }

    private func workerLoop() {
        monitor.lock()
        while !shuttingDown {
            if let run = ending.popLast() {
                enterCall()
                monitor.unlock()
                run.finished(cancelled: run.tenant.cancelled)
                monitor.lock()
                inCalls -= 1
                continue
            }
            guard let run = pick(now: monotonicNanos()) else {
                if let due = nextDue(now: monotonicNanos()) {
                    monitor.wait(until: due)
                } else {
                    monitor.wait()
                }
                continue
            }
            let version = run.tenant.version
            let counted = run.callsBlockThreads
            if counted { enterCall() }
            monitor.unlock()
            let step = run.runNext()
            if case .ran(.detached) = step {  // replaced by `replaceStuckWorker`
                monitor.withLock { leave(stuck: true) }
                return
            }
            monitor.lock()
            let ended = settle(run, step, claimedAt: version)
            if ended {
                monitor.unlock()
                run.finished(cancelled: run.tenant.cancelled)
                monitor.lock()
            }
            if counted { inCalls -= 1 }
            if ended { monitor.broadcast() }
        }
        threads -= 1
        leave()
        monitor.unlock()
        monitor.broadcast()  // shutdown waits for the last thread
    }

    /// The calling thread goes into a call: a spare takes its place if the runs may use one.
    private func enterCall() {
        inCalls += 1
        spawnThreadsIfNeeded()
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
    /// moved on with `outcome` as if the call had returned, and a new thread
    /// takes its place. The stuck thread leaves when its call returns.
    func replaceStuckWorker(_ run: Workload, _ outcome: JobOutcome) {
        monitor.withLock {
            threads -= 1
            if run.callsBlockThreads { inCalls -= 1 }  // the stuck thread no longer counts
            spawnThreadsIfNeeded()
        }
        complete(run, outcome)
    }

    /// A call that held its slot away from a worker (pending, or abandoned
    /// by the watchdog) ended with `outcome`: the slot is free again. When
    /// that ends the run, a worker finishes it. Without `waking`, the
    /// workers learn of it at the next broadcast (the relay's, see above).
    func complete(_ run: Workload, _ outcome: JobOutcome, waking: Bool = true) {
        monitor.withLock {
            if settle(run, .ran(outcome), claimedAt: run.tenant.version) { ending.append(run) }
        }
        if waking { monitor.broadcast() }
    }

    /// Frees the slot of a worker's turn and notes what the queue said; true
    /// when the run is over and the caller must call `finished`. A claim's
    /// "nothing" is stale when a job was given back since it started.
    private func settle(_ run: Workload, _ step: WorkStep, claimedAt version: UInt64) -> Bool {
        let tenant = run.tenant
        if case .ran(.pending) = step { return false }  // the slot stays taken
        tenant.running -= 1
        group(tenant.name).running -= 1
        busy -= 1
        if run.callsBlockThreads { threadBusy -= 1 }
        switch step {
        case .ran(.gaveBack):
            tenant.wake()
            monitor.broadcast()  // a sleeping worker may need to wake sooner
        case .wait(let until) where tenant.version == version:
            tenant.idleUntil = until
        case .drained where tenant.version == version:
            tenant.drained = true
        default:
            break
        }
        return completeIfDone(run)
    }
}
