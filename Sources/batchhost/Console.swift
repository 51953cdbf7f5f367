import BatchCore

/// What the CLI prints on standard error: failures as they happen, plugin
/// warnings, and the final summary.
final class Console: @unchecked Sendable {
    let quiet: Bool

    init(quiet: Bool) { self.quiet = quiet }

    func handle(_ event: BatchEvent) {
        switch event {
        case .documentFinished(let result, _) where result.status == .failed:
            if !quiet { writeStandardError("failed: \(result.document.id): \(result.error ?? "no message")\n") }
        case .log(let level, let message, let document, _) where level >= 2 || !quiet:
            let about = document.map { " [\($0.id)]" } ?? ""
            writeStandardError("\(level >= 3 ? "error" : level == 2 ? "warning" : "info"): \(message)\(about)\n")
        default:
            break
        }
    }

    func note(_ text: String) {
        writeStandardError("batchhost: \(text)\n")
    }

    /// How to continue a stopped run.
    func resumeHint(journal: String?) {
        guard let journal else {
            note("stopped early; without a journal (--checkpoint FILE) the run cannot be resumed")
            return
        }
        var args = CommandLine.arguments
        if !args.contains("--resume") && !args.contains("-r") {
            if let dashes = args.firstIndex(of: "--") { args.insert("--resume", at: dashes) } else { args.append("--resume") }
        }
        note("stopped early; the journal \(journal) records every finished document. To continue:\n  " + args.map(shellQuoted).joined(separator: " "))
    }

    func summary(_ s: BatchStats) {
        guard !quiet else { return }
        let done = s.ok + s.partial + s.failed
        var line = "batchhost: \(done) of \(s.total) documents in \(format(s.elapsedSeconds, digits: s.elapsedSeconds < 10 ? 3 : 1)) s: "
        line += "\(s.ok) ok, \(s.partial) partial, \(s.failed) failed, \(s.skipped) skipped"
        if done > 0 {
            line += "; \(format(s.docsPerHour, digits: 0)) docs/hour, mean \(format(s.meanDocMs, digits: 2)) ms/doc"
        }
        if s.retries > 0 { line += "; \(s.retries) retries" }
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
