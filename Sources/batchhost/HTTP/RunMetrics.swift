import BatchCore

/// The batches' numbers as Prometheus metrics: `batchcore_` names, base
/// units, `_total` counters, labels bounded to batch, tenant, stage and status.
enum RunMetrics {
    static func text(for batches: [BatchStatus]) -> String {
        var out = PrometheusWriter()
        counters(batches, &out)
        gauges(batches, &out)
        timestamps(batches, &out)
        durations(batches, &out)
        return out.text
    }

    private typealias Metric = (name: String, help: String, value: (BatchStatus) -> Double)

    private static func counters(_ batches: [BatchStatus], _ out: inout PrometheusWriter) {
        out.family("batchcore_documents_finished_total", .counter, help: "Documents finished, by final status.")
        for batch in batches {
            let s = batch.stats
            for (status, count) in [("ok", s.ok), ("partial", s.partial), ("failed", s.failed), ("skipped", s.skipped)] {
                out.sample("batchcore_documents_finished_total", batch.labels + [("status", status)], Double(count))
            }
        }
        let metrics: [Metric] = [
            ("batchcore_attempts_total", "Calls of a stage made, retries included.", { Double($0.stats.attempts) }),
            ("batchcore_retries_total", "Calls that were retries of an earlier attempt.", { Double($0.stats.retries) }),
            ("batchcore_timeouts_total", "Calls that overran the timeout.", { Double($0.stats.timeouts) }),
            ("batchcore_rate_limit_wait_seconds_total", "Seconds documents waited for their rate limit, summed over documents.",
             { $0.stats.rateLimitWaitSeconds }),
            ("batchcore_rate_limit_pauses_total", "Retry-After answers (429s) that paused the rate limit.", { Double($0.stats.rateLimitPauses) }),
            ("batchcore_input_tokens_total", "Input tokens the processors reported.", { Double($0.stats.inputTokens) }),
            ("batchcore_output_tokens_total", "Output tokens the processors reported.", { Double($0.stats.outputTokens) }),
            ("batchcore_cost_usd_total", "US dollars spent at the stages' prices, earlier runs of the journal included.", { $0.stats.costUSD }),
        ]
        write(metrics, .counter, batches, &out)
    }

    private static func gauges(_ batches: [BatchStatus], _ out: inout PrometheusWriter) {
        let metrics: [Metric] = [
            ("batchcore_batch_running", "1 while the batch runs, else 0.", { $0.stats.state == .running ? 1 : 0 }),
            ("batchcore_batch_documents", "Documents in the batch (as far as the input has been read).", { Double($0.stats.total) }),
            ("batchcore_documents_in_flight", "Documents being processed now.", { Double($0.stats.inFlight) }),
            ("batchcore_documents_queued", "Documents not started, or waiting for a retry or their rate limit.", { Double($0.queued) }),
            ("batchcore_workers", "Workers the batch may use.", { Double($0.stats.workers) }),
            ("batchcore_budget_usd", "The budget in US dollars (0: none).", { $0.budgetUSD ?? 0 }),
            ("batchcore_budget_spent_ratio", "Share of the budget spent (0 without a budget).",
             { b in b.budgetUSD.map { $0 > 0 ? b.stats.costUSD / $0 : 0 } ?? 0 }),
        ]
        write(metrics, .gauge, batches, &out)
    }

    private static func timestamps(_ batches: [BatchStatus], _ out: inout PrometheusWriter) {
        let metrics: [Metric] = [
            ("batchcore_batch_estimated_completion_timestamp_seconds",
             "When the batch will likely finish, at the last minute's rate (0 until it can be told).", { $0.estimatedCompletion ?? 0 }),
            ("batchcore_batch_last_success_timestamp_seconds", "When a document last finished ok or partial (0: none yet).",
             { $0.lastSuccess ?? 0 }),
        ]
        write(metrics, .gauge, batches, &out)
    }

    private static func durations(_ batches: [BatchStatus], _ out: inout PrometheusWriter) {
        let name = "batchcore_stage_duration_seconds"
        out.family(name, .histogram, help: "How long one call of a stage took on a document (each attempt).")
        for batch in batches {
            for stage in batch.stats.stageDurations {
                out.histogram(name, batch.labels + [("stage", stage.stage)], bounds: StageDurations.bounds,
                              counts: stage.bucketCounts, sum: stage.sumSeconds)
            }
        }
    }

    private static func write(_ metrics: [Metric], _ kind: PrometheusWriter.Kind, _ batches: [BatchStatus], _ out: inout PrometheusWriter) {
        for metric in metrics {
            out.family(metric.name, kind, help: metric.help)
            for batch in batches { out.sample(metric.name, batch.labels, metric.value(batch)) }
        }
    }
}

private extension BatchStatus {
    var labels: [(String, String)] { [("batch", name), ("tenant", tenant)] }
}
