import BatchCore
import Glibc

/// What the CLI prints on standard error: progress, failures as they
/// happen, plugin warnings, and the final summary. Every line starts with
/// `batchhost:`; with `--progress json` every line is a JSON object instead,
/// the summary object last.
final class Console: Sendable {
    let quiet: Bool
    let progress: ProgressDisplay
    private let relay = Locked<ResultRelay?>(nil)

    init(quiet: Bool, progress: ProgressMode = .off) {
        self.quiet = quiet
        self.progress = ProgressDisplay(mode: quiet ? .off : progress)
    }

    private var json: Bool { progress.mode == .json }

    /// Results written to standard output go around the live line (when both
    /// are on one terminal) until `endLive`.
    func relayResults() {
        relay.withLock { $0 = ResultRelay.start(progress: progress) }
    }

    /// Called on the batch's event thread.
    func handle(_ event: BatchEvent) {
        switch event {
        case .progress(let stats):
            progress.tick(stats)
        case .documentFinished(let result, _) where result.status == .failed && !quiet:
            let error = result.error ?? "no message"
            say("failed", "\(result.document.id): \(error)", ["id": result.document.id, "error": error])
        case .log(let level, let message, let document, _) where level >= .warning || !quiet:
            let kind = level >= .warning ? level.name : "info"
            let about = document.map { " [\($0.id)]" } ?? ""
            say(kind, message + about, ["message": message, "id": document?.id])
        default:
            break
        }
    }

    func note(_ text: String) {
        say(nil, text, ["message": text])
    }

    /// One line: `batchhost: KIND: TEXT`, or a JSON object of `fields`.
    private func say(_ kind: String?, _ text: String, _ fields: [String: String?]) {
        guard json else {
            progress.write("batchhost: " + (kind.map { $0 + ": " } ?? "") + text + "\n")
            return
        }
        var object = [("type", jsonString(kind ?? "message"))]
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) { object.append((key, value.map(jsonString) ?? "null")) }
        progress.write(jsonObject(object) + "\n")
    }

    /// The run is over: results shown, the summary, and what to do next.
    func finish(_ s: BatchStats, error: BatchCoreError?, budget: Double?, journal: String?) {
        endLive()
        if json {
            writeStandardError(jsonObject(summaryFields(s, error: error, budget: budget, journal: journal)) + "\n")
            return
        }
        if !quiet { writeStandardError("batchhost: " + summary(s) + "\n") }
        if let error { writeStandardError("batchhost: error: \(error.message)\n") }
        if s.budgetReached {
            budgetReached(s, budget: budget ?? 0, journal: journal)
        } else if s.state == .cancelled || error?.code == .io {  // .io: the journal, the output or a sink failed
            resumeHint(journal: journal)
        }
        if s.sampledFrom > 0 && s.state == .finished { projection(s, journal: journal) }
    }

    /// The process leaves at once (a second Ctrl-C that calls ignore).
    func abandoned(journal: String?) {
        endLive()
        resumeHint(journal: journal)
    }

    /// Shows the results still on their way, then clears the live line for good.
    func endLive() {
        relay.withLock { relay in defer { relay = nil }; return relay }?.finish()
        progress.finish()
    }

    /// How to continue a stopped run.
    private func resumeHint(journal: String?) {
        guard journal != nil else {
            note("stopped early; without a journal (--checkpoint FILE) the run cannot be resumed")
            return
        }
        note("stopped early; the journal \(journal!) records every finished document. To continue:\n  " + resumeCommand())
    }

    private func budgetReached(_ s: BatchStats, budget: Double, journal: String?) {
        var text = "budget reached: \(dollars(s.costUSD)) of \(dollars(budget)) spent (this and earlier runs of the journal)"
        if s.estimatedTotalCostUSD > 0 { text += "; the whole input would cost about \(dollars(s.estimatedTotalCostUSD))" }
        guard let journal else {
            note(text + ". Without a journal (--checkpoint FILE) the run cannot be resumed")
            return
        }
        let raised = raisedBudget(s, budget: budget)
        note(text + ". The journal \(journal) records every finished document; to continue with a budget of "
             + "\(dollars(raised.usd)) (\(raised.why)), run:\n  " + nextCommand(s, budget: budget)!)
    }

    /// The command that goes on from where this run ended: with --resume and
    /// a raised --budget after the budget stopped it, with --resume after
    /// any other stop, and without --sample after a sample; nil otherwise.
    private func nextCommand(_ s: BatchStats, budget: Double?) -> String? {
        if s.budgetReached, let budget {
            let raised = format(raisedBudget(s, budget: budget).usd, digits: 2)
            return resumeCommand(dropping: "--budget", option: "budget", adding: ["--budget", raised])
        }
        if s.state == .cancelled { return resumeCommand() }
        if s.sampledFrom > 0 { return resumeCommand(dropping: "--sample", option: "sample") }
        return nil
    }

    /// A budget for the rest: the estimate for the whole input and a tenth
    /// more, or twice this one while there is no estimate; in whole cents.
    private func raisedBudget(_ s: BatchStats, budget: Double) -> (usd: Double, why: String) {
        if s.estimatedTotalCostUSD > budget {
            return (centsUp(s.estimatedTotalCostUSD * 1.1), "the estimate for the whole input and 10%")
        }
        return (max(0.01, centsUp(budget * 2)), "twice this one; choose your own")
    }

    /// Rounded up to whole cents, ignoring floating-point dust ($1.1000000001 is $1.10).
    private func centsUp(_ usd: Double) -> Double {
        ((usd * 100 * 1e6).rounded() / 1e6).rounded(.up) / 100
    }

    /// What a sample run projects for the whole input.
    private func projection(_ s: BatchStats, journal: String?) {
        let done = s.ok + s.partial + s.failed - s.resumed
        var text = "sample of \(done) of \(counted(s.sampledFrom, "document")): the whole input would take about \(duration(s.projectedSeconds))"
        if s.costUSD > 0 || s.projectedCostUSD > 0 { text += " and cost about \(dollars(s.projectedCostUSD))" }
        text += " at these settings"
        guard let journal else {
            note(text + ".")
            return
        }
        note(text + ". The sampled results are in \(journal) and will not run again; to process the rest:\n  "
             + nextCommand(s, budget: nil)!)
    }

    /// This command line with --resume, without `flag` or `-O option=…`
    /// (and their values), and with `extra` added.
    private func resumeCommand(dropping flag: String? = nil, option: String? = nil, adding extra: [String] = []) -> String {
        var args = CommandLine.arguments.map(SinkPasswords.hidden)
        if let flag { args = CommandLine.removing(flag, from: args) }
        if let option { args = CommandLine.removing(option: option, from: args) }
        let resume = args.contains("--resume") || args.contains("-r") ? [] : ["--resume"]
        args = CommandLine.inserting(extra + resume, into: args)
        return args.map(shellQuoted).joined(separator: " ")
    }

    /// `N of M documents in T s: …; this run: tokens, units, cost; …`.
    func summary(_ s: BatchStats) -> String {
        let done = s.ok + s.partial + s.failed
        var line = "\(done) of \(counted(s.total, "document")) in \(format(s.elapsedSeconds, digits: s.elapsedSeconds < 10 ? 3 : 1)) s: "
        line += "\(s.ok) ok, \(s.partial) partial, \(s.failed) failed, \(s.skipped) skipped"
        if done > s.resumed {
            if let rate = Self.docsPerMinute(s) { line += "; \(format(rate, digits: rate < 10 ? 1 : 0)) docs/min" }
            line += "; mean \(format(s.meanDocMs, digits: 2)) ms/doc"
        }
        if s.retries > 0 { line += "; " + counted(s.retries, "retry", "retries") }
        if s.timeouts > 0 { line += "; " + counted(s.timeouts, "timeout") }
        var usage: [String] = []
        if s.inputTokens + s.outputTokens > 0 { usage.append("\(s.inputTokens) input + \(s.outputTokens) output tokens") }
        if s.units > 0 { usage.append(counted(s.units, "unit")) }
        if s.runCostUSD > 0 { usage.append("\(dollars(s.runCostUSD)) spent") }
        if !usage.isEmpty { line += "; this run: " + usage.joined(separator: ", ") }
        if s.costUSD > s.runCostUSD { line += "; \(dollars(s.costUSD)) spent by all runs of the journal" }
        if s.resumed > 0 { line += "; \(s.resumed) already done in the journal" }
        if s.deduplicated > 0 { line += "; \(s.deduplicated) reused from identical documents" }
        if s.changedAtSource > 0 { line += "; \(s.changedAtSource) changed at their source since (earlier results kept)" }
        if s.state == .cancelled { line += " (stopped early)" }
        return line
    }

    /// Documents this run finished per minute; nil for a run under a second,
    /// where the figure would say more about the clock than the run.
    static func docsPerMinute(_ s: BatchStats) -> Double? {
        guard s.elapsedSeconds >= 1 else { return nil }
        return Double(s.ok + s.partial + s.failed - s.resumed) / s.elapsedSeconds * 60
    }

    /// The JSON summary: a progress object's fields and how the run ended.
    private func summaryFields(_ s: BatchStats, error: BatchCoreError?, budget: Double?, journal: String?) -> [(String, String)] {
        let stoppedBy = s.budgetReached ? "budget" : error != nil ? "error" : s.state == .cancelled ? "interrupt" : nil
        var fields = [("type", jsonString("summary")),
                      ("state", jsonString(s.state == .cancelled ? "stopped" : "finished")),
                      ("stopped_by", stoppedBy.map(jsonString) ?? "null"),
                      ("error", error.map { jsonString($0.message) } ?? "null")]
        fields += ProgressDisplay.jsonFields(s, Self.docsPerMinute(s)).filter { $0.0 != "eta_seconds" }
        fields += [("mean_doc_ms", format(s.meanDocMs, digits: 3)),
                   ("run_cost_usd", format(s.runCostUSD, digits: 6)),
                   ("resumed", "\(s.resumed)"), ("deduplicated", "\(s.deduplicated)"),
                   ("changed_at_source", "\(s.changedAtSource)"),
                   ("budget_usd", budget.map { format($0, digits: 6) } ?? "null"),
                   ("journal", journal.map(jsonString) ?? "null"),
                   ("next_command", journal.flatMap { _ in nextCommand(s, budget: budget) }.map(jsonString) ?? "null")]
        if s.sampledFrom > 0 {
            fields += [("sampled_from", "\(s.sampledFrom)"), ("projected_seconds", format(s.projectedSeconds, digits: 1)),
                       ("projected_cost_usd", format(s.projectedCostUSD, digits: 6))]
        }
        return fields
    }
}

extension CommandLine {
    /// `args` without `flag` and its value (`--flag V` or `--flag=V`).
    static func removing(_ flag: String, from args: [String]) -> [String] {
        var args = args
        if let at = args.firstIndex(of: flag) {
            args.removeSubrange(at..<min(at + 2, args.count))
        } else if let at = args.firstIndex(where: { $0.hasPrefix(flag + "=") }) {
            args.remove(at: at)
        }
        return args
    }

    /// `args` without a batch option given as `-O KEY=V` / `--option KEY=V`.
    static func removing(option key: String, from args: [String]) -> [String] {
        var args = args
        while let at = args.indices.dropLast().first(where: {
            ["-O", "--option"].contains(args[$0]) && args[$0 + 1].hasPrefix(key + "=")
        }) {
            args.removeSubrange(at...at + 1)
        }
        args.removeAll { $0.hasPrefix("-O\(key)=") || $0.hasPrefix("--option=\(key)=") }
        return args
    }

    /// `extra` added before the command after `--`, if there is one.
    static func inserting(_ extra: [String], into args: [String]) -> [String] {
        var args = args
        args.insert(contentsOf: extra, at: args.firstIndex(of: "--") ?? args.endIndex)
        return args
    }
}

/// "1 retry", "2 retries".
func counted(_ n: UInt64, _ singular: String, _ plural: String? = nil) -> String {
    "\(n) " + (n == 1 ? singular : plural ?? singular + "s")
}

func jsonString(_ s: String) -> String {
    var out: [UInt8] = []
    appendJSONString(s, to: &out)
    return String(decoding: out, as: UTF8.self)
}

/// Fixed-point formatting without Foundation.
func format(_ value: Double, digits: Int) -> String {
    guard value.isFinite else { return "-" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = (value * scale).rounded()
    let whole = Int(scaled / scale)
    guard digits > 0 else { return String(Int(scaled)) }
    let fraction = Int(abs(scaled).truncatingRemainder(dividingBy: scale))
    let text = String(fraction)
    return "\(whole).\(String(repeating: "0", count: digits - text.count))\(text)"
}

/// Quotes an argument for a POSIX shell when it needs it.
func shellQuoted(_ s: String) -> String {
    let plain = s.allSatisfy { $0.isLetter || $0.isNumber || "-_./=:,+@%".contains($0) }
    if plain && !s.isEmpty { return s }
    return "'" + s.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
}
