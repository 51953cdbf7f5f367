import ArgumentParser
import BatchCore
import FoundationEssentials

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Summarise a journal, or with --redis the distributed batches: counts by status, progress, workers.")

    @Argument(help: "The journal file (e.g. results.jsonl.journal); with --redis, a batch id (default: every batch).")
    var journal: String?

    @OptionGroup var redis: RedisFlags

    @Flag(help: "Print JSON for scripts.")
    var json = false

    func run() throws {
        if redis.url != nil || (journal == nil && redis.isGiven) {
            return try RedisStatus(pool: try redis.connect()).show(batch: journal, json: json)
        }
        guard let journal else { throw ValidationError("give a journal file, or --redis URL for distributed batches") }
        let summary = try JournalReader(path: journal).summary()
        if json {
            print(statusJSON(summary).text)
            return
        }
        print("journal:    \(journal)")
        print("documents:  \(summary.finished) finished: \(summary.ok) ok, \(summary.partial) partial, \(summary.failed) failed, \(summary.skipped) skipped")
        print("attempts:   \(summary.attempts)")
        if summary.inputTokens + summary.outputTokens > 0 {
            print("tokens:     \(summary.inputTokens) in, \(summary.outputTokens) out")
        }
        if summary.units > 0 { print("units:      \(summary.units)") }
        if summary.costUSD > 0 { print("cost:       \(dollars(summary.costUSD))") }
        if let configuration = summary.configuration {
            print("stages:     " + configuration.stages.map { $0.label == $0.processor ? $0.label : "\($0.label)=\($0.processor)" }.joined(separator: " → "))
            print("inputs:     " + configuration.inputs.joined(separator: ", "))
        }
        if let live = summary.live {
            print("running:    pid \(live.pid) since \(isoDate(live.since)); " + liveProgress(live, finished: summary.finished))
        }
        if let rate = summary.docsPerMinute {
            print("throughput: \(format(rate, digits: rate < 10 ? 1 : 0)) docs/min")
        }
        for run in summary.runs {
            let seconds = run.seconds(now: summary.now)
            print("run \(run.number):      \(isoDate(run.startedAt)), \(run.state), \(run.processed) documents in \(format(seconds, digits: 1)) s")
        }
        if !summary.lastErrors.isEmpty {
            print("last errors:")
            for (id, error) in summary.lastErrors { print("  \(id): \(error)") }
        }
    }

    /// "120 of 500 finished, 8 in flight, 42 docs/min over the last minute, ETA 9m02s"
    private func liveProgress(_ live: JournalReader.Live, finished: Int64) -> String {
        var parts = [live.total.map { "\(finished) of \($0) finished" } ?? "\(finished) finished"]
        if let inFlight = live.inFlight { parts.append("\(inFlight) in flight") }
        if live.sinksWaiting > 0 { parts.append("sink: waiting for database") }
        parts.append("\(format(live.perMinute, digits: live.perMinute < 10 ? 1 : 0)) docs/min over the last minute")
        if let eta = live.etaSeconds { parts.append("ETA \(duration(eta))") }
        return parts.joined(separator: ", ")
    }

    private func statusJSON(_ s: JournalReader.Summary) -> JSONValue {
        .object([
            "journal": .string(journal ?? ""),
            "finished": .number(Double(s.finished)),
            "ok": .number(Double(s.ok)), "partial": .number(Double(s.partial)),
            "failed": .number(Double(s.failed)), "skipped": .number(Double(s.skipped)),
            "attempts": .number(Double(s.attempts)),
            "input_tokens": .number(Double(s.inputTokens)), "output_tokens": .number(Double(s.outputTokens)),
            "units": .number(Double(s.units)), "cost_usd": .number(s.costUSD),
            "docs_per_minute": s.docsPerMinute.map { .number(($0 * 10).rounded() / 10) } ?? .null,
            "runs": .array(s.runs.map { run in
                .object(["run": .number(Double(run.number)), "started_at": .string(isoDate(run.startedAt)),
                         "ended_at": run.endedAt.map { .string(isoDate($0)) } ?? .null,
                         "state": .string(run.state), "processed": .number(Double(run.processed)),
                         "seconds": .number((run.seconds(now: s.now) * 1000).rounded() / 1000)])
            }),
            "live": s.live.map { live in
                .object(["pid": .number(Double(live.pid)), "since": .string(isoDate(live.since)),
                         "total": live.total.map { .number(Double($0)) } ?? .null,
                         "in_flight": live.inFlight.map { .number(Double($0)) } ?? .null,
                         "sinks_waiting": .number(Double(live.sinksWaiting)),
                         "docs_per_minute": .number((live.perMinute * 10).rounded() / 10),
                         "eta_seconds": live.etaSeconds.map { .number($0.rounded()) } ?? .null])
            } ?? .null,
            "last_errors": .array(s.lastErrors.map { .object(["id": .string($0.id), "error": .string($0.error)]) }),
        ])
    }
}

struct FailedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "failed",
        abstract: "List the failed documents of a journal (id, path, attempts, error).")

    @Argument(help: "The journal file.")
    var journal: String

    @Option(help: ArgumentHelp("Write the failed documents as JSON Lines to this file.", valueName: "file"))
    var export: String?

    @Flag(help: "Print JSON Lines instead of a table.")
    var jsonl = false

    func run() throws {
        let reader = try JournalReader(path: journal)
        if let export {
            try reader.export(to: export, format: .jsonl, status: .failed)
            return
        }
        if jsonl {
            try reader.export(to: "-", format: .jsonl, status: .failed)
            return
        }
        let cursor = try reader.results(status: .failed)
        var count = 0
        while let result = try cursor.next() {
            if count == 0 { print("\(pad("ID", 32)) \(pad("ATTEMPTS", 8)) ERROR") }
            print("\(pad(result.document.id, 32)) \(pad(String(result.attempts), 8)) \(result.error ?? "")")
            count += 1
        }
        if count == 0 { print("no failed documents") }
    }
}

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write every result in a journal as JSON Lines, a JSON array or CSV, or into a database.")

    @Argument(help: "The journal file.")
    var journal: String

    @Option(help: ArgumentHelp("Upsert the results into this database table instead (sqlite:///path.db?table=NAME).", valueName: "url"))
    var sink: String?

    @Option(name: [.customShort("O"), .customLong("option")], help: ArgumentHelp("A sink option with --sink: sink.batch_size or sink.columns, KEY=VALUE (repeatable).", valueName: "key=value"))
    var sinkOptions: [String] = []

    @Option(help: ArgumentHelp("jsonl, json or csv.", valueName: "format"))
    var format: String = "jsonl"

    @Option(name: [.short, .long], help: ArgumentHelp("Write to this file instead of standard output.", valueName: "file"))
    var output: String = "-"

    func run() throws {
        guard let format = JournalReader.ExportFormat(rawValue: format) else {
            throw ValidationError("--format '\(format)': expected jsonl, json or csv")
        }
        let reader = try JournalReader(path: journal)
        guard let sink else { return try reader.export(to: output, format: format) }
        var options = BatchOptions()
        for option in sinkOptions {
            let (key, value) = try splitAssignment(option, flag: "--option")
            guard key.hasPrefix("sink.") else { throw ValidationError("--option '\(key)': export takes sink options only") }
            try options.set(key, value)
        }
        let url = try SinkURL.parse(sink)
        let written = try reader.export(toSink: url, options: options)
        Diagnostics.write("\(written) results written to \(url.display)")
    }
}

struct RecoverCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recover",
        abstract: "Rebuild a lost or damaged journal from the output file, so --resume skips what it holds.",
        discussion: """
        Every line of the output names a finished document (id, status, attempts, \
        result): recover records them in a new journal, keeps the old one as \
        JOURNAL.bak, and a following run with --resume skips them. A torn last line \
        is left out; when an id appears twice, its last line is kept and the output \
        is rewritten with one line per id (the original is kept as OUTPUT.bak).
        """)

    @Option(name: [.short, .long], help: ArgumentHelp("The output file (JSON Lines) of the run.", valueName: "file"))
    var output: String

    @Option(name: [.short, .long], help: ArgumentHelp("The journal to rebuild (default: OUTPUT.journal).", valueName: "file"))
    var checkpoint: String?

    func run() throws {
        let journal = checkpoint ?? output + ".journal"
        let report = try JournalRecovery.rebuild(journal: journal, output: output)
        var lines = ["batchhost: recovered \(report.documents) finished documents from '\(output)' into '\(journal)'"]
        if let old = report.oldJournal { lines.append("batchhost: the old journal is kept as '\(old)'") }
        if report.tornBytes > 0 {
            lines.append("batchhost: left out a torn last line (\(report.tornBytes) bytes): that document runs again on --resume")
        }
        if report.duplicates > 0, let old = report.oldOutput {
            lines.append("batchhost: \(report.duplicates) lines repeated an id: the output now holds the last line of each id (the original is kept as '\(old)')")
        }
        lines.append("batchhost: continue with the run's command line plus --resume")
        writeStandardError(lines.joined(separator: "\n") + "\n")
    }
}

func isoDate(_ seconds: Double) -> String {
    Date(timeIntervalSince1970: seconds).formatted(.iso8601)
}
