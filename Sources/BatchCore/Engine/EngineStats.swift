/// Numbers for the whole engine: each running batch, totals per tenant,
/// and the workers in use, as the C API's bc_engine_stats hands them out.
extension Engine {
    public func statsJSON() -> String {
        let occupancy = scheduler.occupancy()
        var batches: [JSONValue] = []
        var tenants: [String: TenantTotals] = [:]
        for (workload, running) in occupancy.workloads {
            guard let run = workload as? BatchRun else { continue }
            let stats = run.stats.snapshot
            let tenant = run.options.tenant
            tenants[tenant, default: TenantTotals()].add(stats, workers: running)
            var own = TenantTotals()
            own.add(stats, workers: running)
            var json = own.json.merging(["tenant": .string(tenant), "total": .number(Double(stats.total))])
            json["batches"] = nil
            batches.append(.object(json))
        }
        let tenantList = tenants.keys.sorted().map { name in
            let cap = occupancy.tenantCaps[name].map { JSONValue.number(Double($0)) } ?? .null
            return JSONValue.object(tenants[name]!.json.merging(["tenant": .string(name), "max_workers": cap]))
        }
        return JSONValue.object([
            "batches": .array(batches),
            "tenants": .array(tenantList),
            "workers_in_use": .number(Double(occupancy.busy)),
            "max_workers": .number(Double(occupancy.maxWorkers)),
        ]).text
    }
}

/// What one tenant's (or one batch's) running batches add up to.
private struct TenantTotals {
    var batches = 0
    var workersInUse = 0
    var ok: UInt64 = 0, partial: UInt64 = 0, failed: UInt64 = 0, inFlight: UInt64 = 0
    var costUSD = 0.0

    mutating func add(_ stats: BatchStats, workers: Int) {
        batches += 1
        workersInUse += workers
        ok += stats.ok
        partial += stats.partial
        failed += stats.failed
        inFlight += stats.inFlight
        costUSD += stats.costUSD
    }

    var json: [String: JSONValue] {
        ["batches": .number(Double(batches)), "workers_in_use": .number(Double(workersInUse)),
         "ok": .number(Double(ok)), "partial": .number(Double(partial)), "failed": .number(Double(failed)),
         "in_flight": .number(Double(inFlight)), "cost_usd": .number(costUSD)]
    }
}

private extension Dictionary where Key == String, Value == JSONValue {
    func merging(_ other: [String: JSONValue]) -> [String: JSONValue] { merging(other) { $1 } }
}
