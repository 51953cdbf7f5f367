import BatchCore

/// What the CLI prints on standard error: progress, failures as they
/// happen, plugin warnings, and the final summary.
final class Console: @unchecked Sendable {
    let quiet: Bool
    let progress: ProgressDisplay

    init(quiet: Bool, progress: ProgressMode = .off) {
        self.quiet = quiet
        self.progress = ProgressDisplay(mode: quiet ? .off : progress)
    }

    /// Called on the batch's event thread.
    func handle(_ event: BatchEvent) {
        switch event {
        case .progress(let stats):
            progress.tick(stats)
        case .documentFinished(let result, _) where result.status == .failed:
            if !quiet { say("failed: \(result.document.id): \(result.error ?? "no message")\n") }
        case .log(let level, let message, let document, _) where level >= 2 || !quiet:
            let about = document.map { " [\($0.id)]" } ?? ""
            say("\(level >= 3 ? "error" : level == 2 ? "warning" : "info"): \(message)\(about)\n")
        default:
            break
        }
    }

    func note(_ text: String) {
        say("batchhost: \(text)\n")
    }

    private func say(_ text: String) {
        progress.clear()
        writeStandardError(text)
    }

    /// How to continue a stopped run.
    func resumeHint(journal: String?) {
        guard let journal else {
            note("stopped early; without a journal (--checkpoint FILE) the run cannot be resumed")
            return
        }
        note("stopped early; the journal \(journal) records every finished document. To continue:\n  " + resumeCommand())
    }

    func budgetReached(_ s: BatchStats, budget: Double, journal: String?) {
        var text = "budget reached: \(dollars(s.costUSD)) spent of \(dollars(budget))"
        if s.estimatedTotalCostUSD > 0 { text += "; the whole input would cost about \(dollars(s.estimatedTotalCostUSD))" }
        guard let journal else {
            note(text + ". Without a journal (--checkpoint FILE) the run cannot be resumed")
            return
        }
        note(text + ". The journal \(journal) records every finished document (the budget counts what earlier runs spent); to continue, raise --budget and run:\n  " + resumeCommand())
    }

    /// What a sample run projects for the whole input.
    func projection(_ s: BatchStats, journal: String?) {
        let done = s.ok + s.partial + s.failed - s.resumed
        var text = "sample of \(done) of \(s.sampledFrom) documents: the whole input would take about \(duration(s.projectedSeconds))"
        if s.costUSD > 0 || s.projectedCostUSD > 0 { text += " and cost about \(dollars(s.projectedCostUSD))" }
        text += " at these settings"
        guard let journal else {
            note(text + ".")
            return
        }
        note(text + ". The sampled results are in \(journal) and will not run again; to process the rest:\n  "
             + resumeCommand(dropping: "--sample"))
    }

    /// This command line with --resume (and without `dropping` and its value).
    private func resumeCommand(dropping flag: String? = nil) -> String {
        var args = CommandLine.arguments
        if let flag {
            if let at = args.firstIndex(of: flag) {
                args.removeSubrange(at..<min(at + 2, args.count))
            } else if let at = args.firstIndex(where: { $0.hasPrefix(flag + "=") }) {
                args.remove(at: at)
            }
        }
        if !args.contains("--resume") && !args.contains("-r") {
            if let dashes = args.firstIndex(of: "--") { args.insert("--resume", at: dashes) } else { args.append("--resume") }
        }
        return args.map(shellQuoted).joined(separator: " ")
    }

    func summary(_ s: BatchStats) {
        progress.clear()
        guard !quiet else { return }
        let done = s.ok + s.partial + s.failed
        var line = "batchhost: \(done) of \(s.total) documents in \(format(s.elapsedSeconds, digits: s.elapsedSeconds < 10 ? 3 : 1)) s: "
        line += "\(s.ok) ok, \(s.partial) partial, \(s.failed) failed, \(s.skipped) skipped"
        if done > 0 {
            line += "; \(format(s.docsPerHour, digits: 0)) docs/hour, mean \(format(s.meanDocMs, digits: 2)) ms/doc"
        }
        if s.retries > 0 { line += "; \(s.retries) retries" }
        if s.timeouts > 0 { line += "; \(s.timeouts) timeouts" }
        if s.inputTokens + s.outputTokens > 0 { line += "; \(s.inputTokens) input + \(s.outputTokens) output tokens" }
        if s.units > 0 { line += "; \(s.units) units" }
        if s.costUSD > 0 { line += "; \(dollars(s.costUSD)) spent" }
        if s.resumed > 0 { line += "; \(s.resumed) already done in the journal" }
        if s.deduplicated > 0 { line += "; \(s.deduplicated) reused from identical documents" }
        if s.state == .cancelled { line += " (stopped early)" }
        writeStandardError(line + "\n")
    }
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
