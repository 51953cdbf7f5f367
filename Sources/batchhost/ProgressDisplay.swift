import BatchCore
import Glibc

/// How `batchhost run` shows progress on standard error.
enum ProgressMode: String, CaseIterable {
    /// `live` on a terminal, `plain` otherwise.
    case auto
    /// One line, redrawn in place.
    case live
    /// A line every few seconds, for logs.
    case plain
    /// One JSON object per tick, for programs.
    case json
    case off

    /// What `auto` means for standard error as it is.
    var resolved: ProgressMode {
        guard self == .auto else { return self }
        return isatty(2) != 0 ? .live : .plain
    }
}

/// Renders progress ticks: done/total, percent, docs/min over the last
/// half-minute, ETA, outcomes, retries waiting, tokens and cost.
final class ProgressDisplay: @unchecked Sendable {
    let mode: ProgressMode
    private var window: [(seconds: Double, done: UInt64)] = []
    private var lastPlain = -Double.infinity
    private var drawn = false
    static let plainEvery = 5.0
    static let windowSeconds = 30.0

    init(mode: ProgressMode) { self.mode = mode.resolved }

    /// Called on the event thread only.
    func tick(_ s: BatchStats) {
        let done = s.ok + s.partial + s.failed + s.skipped - s.resumed
        window.append((s.elapsedSeconds, done))
        while let first = window.first, s.elapsedSeconds - first.seconds > Self.windowSeconds, window.count > 2 {
            window.removeFirst()
        }
        switch mode {
        case .live:
            writeStandardError("\r" + line(s) + "\u{1B}[K")
            drawn = true
        case .plain:
            guard s.elapsedSeconds - lastPlain >= Self.plainEvery else { return }
            lastPlain = s.elapsedSeconds
            writeStandardError("batchhost: " + line(s) + "\n")
        case .json:
            writeStandardError(json(s) + "\n")
        case .auto, .off:
            break
        }
    }

    /// Clears the live line so another message can be printed; `redraw` puts it back.
    func clear() {
        if mode == .live && drawn { writeStandardError("\r\u{1B}[K") }
    }

    /// Documents per minute over the window; nil until two ticks apart.
    var docsPerMinute: Double? {
        guard let first = window.first, let last = window.last, last.seconds > first.seconds else { return nil }
        return Double(last.done - first.done) / (last.seconds - first.seconds) * 60
    }

    func etaSeconds(_ s: BatchStats) -> Double? {
        guard s.totalKnown || s.sampledFrom > 0, let rate = docsPerMinute, rate > 0 else { return nil }
        return Double(s.total - min(s.total, s.finishedCount)) / rate * 60
    }

    func line(_ s: BatchStats) -> String {
        let total = s.totalKnown ? "\(s.total)" : "\(s.total)+"
        var parts = ["\(s.finishedCount)/\(total)"]
        if s.totalKnown && s.total > 0 {
            parts[0] += " (\(format(Double(s.finishedCount) * 100 / Double(s.total), digits: 1))%)"
        }
        if let rate = docsPerMinute { parts.append("\(format(rate, digits: rate < 10 ? 1 : 0)) docs/min") }
        if let eta = etaSeconds(s) { parts.append("ETA \(duration(eta))") }
        parts.append("ok \(s.ok) partial \(s.partial) failed \(s.failed)")
        if s.retryWaiting > 0 { parts.append("\(s.retryWaiting) retrying") }
        if s.rateLimitWaiting > 0 { parts.append("\(s.rateLimitWaiting) rate-limited") }
        if s.inputTokens + s.outputTokens > 0 { parts.append("\(s.inputTokens + s.outputTokens) tokens") }
        if s.costUSD > 0 {
            var cost = dollars(s.costUSD)
            if s.estimatedTotalCostUSD > s.costUSD { cost += " of ~" + dollars(s.estimatedTotalCostUSD) }
            parts.append(cost)
        }
        return parts.joined(separator: " · ")
    }

    func json(_ s: BatchStats) -> String {
        var fields: [(String, String)] = [
            ("elapsed_seconds", format(s.elapsedSeconds, digits: 3)),
            ("done", "\(s.finishedCount)"), ("total", "\(s.total)"), ("total_known", s.totalKnown ? "true" : "false"),
            ("ok", "\(s.ok)"), ("partial", "\(s.partial)"), ("failed", "\(s.failed)"), ("skipped", "\(s.skipped)"),
            ("in_flight", "\(s.inFlight)"), ("retry_waiting", "\(s.retryWaiting)"),
            ("rate_limit_waiting", "\(s.rateLimitWaiting)"), ("retries", "\(s.retries)"), ("timeouts", "\(s.timeouts)"),
            ("input_tokens", "\(s.inputTokens)"), ("output_tokens", "\(s.outputTokens)"), ("units", "\(s.units)"),
            ("cost_usd", format(s.costUSD, digits: 6)),
            ("estimated_total_cost_usd", format(s.estimatedTotalCostUSD, digits: 6)),
        ]
        fields.append(("docs_per_minute", docsPerMinute.map { format($0, digits: 2) } ?? "null"))
        fields.append(("eta_seconds", etaSeconds(s).map { format($0, digits: 1) } ?? "null"))
        return "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }
}

/// "45s", "12m05s", "3h20m".
func duration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "-" }
    let s = Int(seconds.rounded())
    if s < 60 { return "\(s)s" }
    if s < 3600 { return "\(s / 60)m\(s % 60 < 10 ? "0" : "")\(s % 60)s" }
    return "\(s / 3600)h\((s % 3600) / 60 < 10 ? "0" : "")\((s % 3600) / 60)m"
}
