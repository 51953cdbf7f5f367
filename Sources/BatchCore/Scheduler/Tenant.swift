/// A run's share of the worker slots, as the scheduler sees it. Every
/// field is guarded by the scheduler's monitor. It holds no jobs and no
/// reference to its run: the run's work queue holds the jobs.
final class Tenant: @unchecked Sendable {  // @unchecked: fields guarded by the scheduler's monitor
    let cap: Int
    /// Whom the run works for: its runs share the tenant's cap (`TenantGroup`).
    let name: String
    /// Slots taken: calls running, or pending (finished later from another thread).
    var running = 0
    var cancelled = false
    /// An operator paused dispatch: nothing new starts until resumed.
    var paused = false
    var done = false
    /// The queue said nothing ever again (until a job is given back).
    var drained = false
    /// The queue said nothing before this time.
    var idleUntil: UInt64 = 0
    /// Counts jobs given back: an answer from a claim that started before
    /// the last one is stale.
    var version: UInt64 = 0

    init(cap: Int, name: String) {
        self.cap = cap
        self.name = name
    }

    /// May a worker ask the run for work now?
    func canDispatch(now: UInt64) -> Bool {
        !cancelled && !paused && !done && !drained && running < cap && now >= idleUntil
    }

    /// When this tenant may next have something to start, if ever.
    var nextStart: UInt64? {
        cancelled || paused || drained ? nil : idleUntil
    }

    /// A job was given back: ask the queue again.
    func wake() {
        version &+= 1
        drained = false
        idleUntil = 0
    }

    /// Nothing in flight and nothing left: the run is over.
    var isComplete: Bool {
        running == 0 && (cancelled || drained)
    }
}
