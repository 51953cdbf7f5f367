import BatchCore

/// The JSON of `/api/status` and `/api/documents`. No document content:
/// ids, paths, statuses, errors and numbers only.
enum StatusJSON {
    static func status(_ batches: [BatchStatus], readOnly: Bool) -> JSONValue {
        .object(["batches": .array(batches.map { batch($0, readOnly: readOnly) }), "read_only": .bool(readOnly),
                 "time": .number(unixTime())])
    }

    /// `actions`: what the batch takes now, given the token (none when read-only).
    static func batch(_ b: BatchStatus, readOnly: Bool) -> JSONValue {
        var fields = batchFields(b)
        fields["workers"] = .array(b.workers.map(worker))
        fields["actions"] = .array((readOnly ? [] : b.actions).map(JSONValue.string))
        return .object(fields)
    }

    private static func batchFields(_ b: BatchStatus) -> [String: JSONValue] {
        let s = b.stats
        return [
            "name": .string(b.name),
            "tenant": .string(b.tenant),
            "state": .string(stateName(s.state)),
            "paused": .bool(b.paused),
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
        ]
    }

    private static func worker(_ w: WorkerStatus) -> JSONValue {
        .object(["name": .string(w.name), "done": .number(Double(w.done)), "state": .string(w.state),
                 "seconds_since_seen": optionalNumber(w.secondsSinceSeen)])
    }

    /// A document of a page; with `history`, one document with each of its calls.
    static func document(_ r: DocumentResult, history: [AttemptRecord]? = nil) -> JSONValue {
        var fields = documentFields(r)
        if let history { fields["attempt_history"] = .array(history.map(attempt)) }
        return .object(fields)
    }

    private static func documentFields(_ r: DocumentResult) -> [String: JSONValue] {
        [
            "id": .string(r.document.id), "path": r.document.path.map(JSONValue.string) ?? .null,
            "status": .string(r.status.name), "attempts": .number(Double(r.attempts)),
            "error": r.error.map(JSONValue.string) ?? .null,
            "failed_stage": r.failedStageLabel.map(JSONValue.string) ?? .null,
            "duration_ms": .number(r.durationMs), "input_tokens": .number(Double(r.inputTokens)),
            "output_tokens": .number(Double(r.outputTokens)), "cost_usd": .number(r.costUSD),
            "output_bytes": .number(Double(r.output?.count ?? 0)),
        ]
    }

    private static func attempt(_ a: AttemptRecord) -> JSONValue {
        .object([
            "attempt": .number(Double(a.attempt)), "stage": a.stage.isEmpty ? .null : .string(a.stage),
            "started_at": .number(a.startedAt), "worker": a.worker.isEmpty ? .null : .string(a.worker),
            "duration_ms": .number(a.durationMs), "outcome": .string(a.outcome),
            "error": a.error.map(JSONValue.string) ?? .null, "stderr": a.stderr.map(JSONValue.string) ?? .null,
        ])
    }

    static func page(_ documents: [ListedDocument], limit: Int) -> JSONValue {
        let next: JSONValue = documents.count == limit ? documents.last.map { .string($0.id) } ?? .null : .null
        return .object(["documents": .array(documents.map(listed)), "next": next])
    }

    /// A finished document's fields; one not finished has its id, path and status only.
    private static func listed(_ d: ListedDocument) -> JSONValue {
        switch d {
        case .finished(let result):
            return document(result)
        case .unfinished(let doc, let running):
            return .object(["id": .string(doc.id), "path": doc.path.map(JSONValue.string) ?? .null,
                            "status": .string(running ? "running" : "pending")])
        }
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
