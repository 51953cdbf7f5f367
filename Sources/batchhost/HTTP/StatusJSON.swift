import BatchCore

/// The JSON of `/api/status` and `/api/documents`. No document content:
/// ids, paths, statuses, errors and numbers only.
enum StatusJSON {
    static func status(_ batches: [BatchStatus], readOnly: Bool) -> JSONValue {
        .object(["batches": .array(batches.map(batch)), "read_only": .bool(readOnly), "time": .number(unixTime())])
    }

    static func batch(_ b: BatchStatus) -> JSONValue {
        let s = b.stats
        return .object([
            "name": .string(b.name),
            "tenant": .string(b.tenant),
            "state": .string(stateName(s.state)),
            "totals": .object([
                "total": .number(Double(s.total)), "total_known": .bool(s.totalKnown),
                "finished": .number(Double(s.finishedCount)), "ok": .number(Double(s.ok)),
                "partial": .number(Double(s.partial)), "failed": .number(Double(s.failed)),
                "skipped": .number(Double(s.skipped)), "in_flight": .number(Double(s.inFlight)),
                "queued": .number(Double(b.queued)), "resumed": .number(Double(s.resumed)),
                "attempts": .number(Double(s.attempts)), "retries": .number(Double(s.retries)),
                "timeouts": .number(Double(s.timeouts)),
            ]),
            "elapsed_seconds": .number(s.elapsedSeconds),
            "rates": .object([
                "docs_per_second_last_minute": .number(b.docsPerSecond),
                "docs_per_hour_overall": .number(s.docsPerHour),
            ]),
            "eta": optionalNumber(b.estimatedCompletion),
            "last_success": optionalNumber(b.lastSuccess),
            "cost": .object([
                "spent_usd": .number(s.costUSD), "projected_usd": .number(s.estimatedTotalCostUSD),
                "budget_usd": optionalNumber(b.budgetUSD), "budget_reached": .bool(s.budgetReached),
                "input_tokens": .number(Double(s.inputTokens)), "output_tokens": .number(Double(s.outputTokens)),
            ]),
            "stages": .array(s.stageDurations.map(stage)),
            "limiter": b.limiter.map(limiter) ?? .null,
            "rate_limit": .object([
                "waiting": .number(Double(s.rateLimitWaiting)), "wait_seconds": .number(s.rateLimitWaitSeconds),
                "pauses": .number(Double(s.rateLimitPauses)),
            ]),
            "sinks": .object(["waiting_for_database": .number(Double(s.sinksWaiting))]),
            "throughput": .array(b.throughput.map { .array([.number($0.time), .number(Double($0.finished))]) }),
            "failures": .array(b.failures.map(failure)),
        ])
    }

    static func document(_ r: DocumentResult) -> JSONValue {
        .object([
            "id": .string(r.document.id), "path": r.document.path.map(JSONValue.string) ?? .null,
            "status": .string(r.status.name), "attempts": .number(Double(r.attempts)),
            "error": r.error.map(JSONValue.string) ?? .null,
            "failed_stage": r.failedStageLabel.map(JSONValue.string) ?? .null,
            "duration_ms": .number(r.durationMs), "input_tokens": .number(Double(r.inputTokens)),
            "output_tokens": .number(Double(r.outputTokens)), "cost_usd": .number(r.costUSD),
            "output_bytes": .number(Double(r.output?.count ?? 0)),
        ])
    }

    static func page(_ documents: [DocumentResult], limit: Int) -> JSONValue {
        let next: JSONValue = documents.count == limit ? documents.last.map { .string($0.document.id) } ?? .null : .null
        return .object(["documents": .array(documents.map(document)), "next": next])
    }

    private static func stage(_ d: StageDurations) -> JSONValue {
        .object(["label": .string(d.stage), "calls": .number(Double(d.count)),
                 "mean_seconds": .number(d.count > 0 ? d.sumSeconds / Double(d.count) : 0)])
    }

    private static func limiter(_ l: LimiterStatus) -> JSONValue {
        .object(["name": .string(l.name), "limits": .string(l.summary), "paused_until": optionalNumber(l.pausedUntil),
                 "tokens_available": optionalNumber(l.tokensAvailable)])
    }

    private static func failure(_ g: FailureGroup) -> JSONValue {
        .object(["stage": g.stage.map(JSONValue.string) ?? .null, "error": .string(g.error),
                 "count": .number(Double(g.count)), "examples": .array(g.exampleIDs.map(JSONValue.string))])
    }

    private static func optionalNumber(_ value: Double?) -> JSONValue { value.map(JSONValue.number) ?? .null }

    private static func stateName(_ state: BatchState) -> String {
        switch state {
        case .new: "new"
        case .running: "running"
        case .finished: "finished"
        case .cancelled: "cancelled"
        }
    }
}
