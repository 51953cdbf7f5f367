/// The running batches of one tenant (the batch option `tenant`), as the
/// scheduler sees them: the tenant's engine-wide cap over all of them, and
/// whose turn it is among them. Every field is guarded by the scheduler's monitor.
final class TenantGroup: @unchecked Sendable {  // @unchecked: fields guarded by the scheduler's monitor
    let name: String
    /// At most this many slots over all the tenant's runs (`tenant.max_workers`); nil: no cap of its own.
    var cap: Int?
    /// Slots taken by the tenant's runs.
    var running = 0
    private(set) var runs: [Workload] = []
    private var cursor = 0

    init(name: String) {
        self.name = name
    }

    var hasRoom: Bool { cap.map { running < $0 } ?? true }

    /// Threads the tenant can use: its runs' caps, within its own.
    var wantedThreads: Int {
        min(cap ?? Int.max, runs.reduce(0) { $0 + $1.tenant.cap })
    }

    func add(_ run: Workload) { runs.append(run) }

    func remove(_ run: Workload) {
        runs.removeAll { $0 === run }
        if cursor >= runs.count { cursor = 0 }
    }

    /// The next of its runs that may take a worker now, round-robin; runs
    /// whose calls may block a thread only when `blocking` (threads are free).
    func pick(now: UInt64, blocking: Bool) -> Workload? {
        guard hasRoom else { return nil }
        for step in 0..<runs.count {
            let index = (cursor + step) % runs.count
            guard blocking || !runs[index].callsBlockThreads, runs[index].tenant.canDispatch(now: now) else { continue }
            cursor = (index + 1) % runs.count
            return runs[index]
        }
        return nil
    }
}
