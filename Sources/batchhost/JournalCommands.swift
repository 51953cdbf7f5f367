import ArgumentParser
import BatchCore
import FoundationEssentials

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Summarise a journal: counts by status, attempts, runs, throughput, last errors.")

    @Argument(help: "The journal file (e.g. results.jsonl.journal).")
    var journal: String

    @Flag(help: "Print JSON for scripts.")
    var json = false

    func run() throws {
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
        print("throughput: \(format(summary.docsPerHour, digits: 0)) docs/hour")
        for run in summary.runs {
            let seconds = (run.endedAt ?? run.startedAt) - run.startedAt
            print("run \(run.number):      \(isoDate(run.startedAt)), \(run.state), \(run.processed) documents in \(format(seconds, digits: 1)) s")
        }
        if !summary.lastErrors.isEmpty {
            print("last errors:")
            for (id, error) in summary.lastErrors { print("  \(id): \(error)") }
        }
    }

    private func statusJSON(_ s: JournalReader.Summary) -> JSONValue {
        .object([
            "journal": .string(journal),
            "finished": .number(Double(s.finished)),
            "ok": .number(Double(s.ok)), "partial": .number(Double(s.partial)),
            "failed": .number(Double(s.failed)), "skipped": .number(Double(s.skipped)),
            "attempts": .number(Double(s.attempts)),
            "input_tokens": .number(Double(s.inputTokens)), "output_tokens": .number(Double(s.outputTokens)),
            "units": .number(Double(s.units)), "cost_usd": .number(s.costUSD),
            "docs_per_hour": .number(s.docsPerHour.rounded()),
            "runs": .array(s.runs.map { run in
                .object(["run": .number(Double(run.number)), "started_at": .string(isoDate(run.startedAt)),
                         "ended_at": run.endedAt.map { .string(isoDate($0)) } ?? .null,
                         "state": .string(run.state), "processed": .number(Double(run.processed))])
            }),
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
        abstract: "Write every result in a journal as JSON Lines, a JSON array or CSV.")

    @Argument(help: "The journal file.")
    var journal: String

    @Option(help: ArgumentHelp("jsonl, json or csv.", valueName: "format"))
    var format: String = "jsonl"

    @Option(name: [.short, .long], help: ArgumentHelp("Write to this file instead of standard output.", valueName: "file"))
    var output: String = "-"

    func run() throws {
        guard let format = JournalReader.ExportFormat(rawValue: format) else {
            throw ValidationError("--format '\(format)': expected jsonl, json or csv")
        }
        try JournalReader(path: journal).export(to: output, format: format)
    }
}

func isoDate(_ seconds: Double) -> String {
    Date(timeIntervalSince1970: seconds).formatted(.iso8601)
}
