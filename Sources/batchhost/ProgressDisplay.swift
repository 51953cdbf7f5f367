import BatchCore
import Glibc
import Synchronization

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

/// Renders progress ticks: done/total, percent, a bar, elapsed time, ETA,
/// docs/min over the last half-minute, outcomes, retries waiting, tokens and
/// cost. The live line fits the terminal's width (see `ProgressLine`) and is
/// redrawn in place; anything else written to the terminal goes through
/// `write`, which moves the line out of the way first.
final class ProgressDisplay: Sendable {
    let mode: ProgressMode
    private let state = Mutex(State())
    static let plainEvery = 5.0
    static let windowSeconds = 30.0

    private struct State {
        var window: [(seconds: Double, done: UInt64)] = []
        var lastPlain = -Double.infinity
        /// The live line on screen, if any.
        var shown: String? = nil
        /// After `finish`, ticks draw nothing.
        var finished = false
    }

    init(mode: ProgressMode) { self.mode = mode.resolved }

    /// Called on the event thread.
    func tick(_ s: BatchStats) {
        state.withLock { st in
            guard !st.finished else { return }
            let finished = s.ok + s.partial + s.failed + s.skipped
            let done = finished - min(finished, s.resumed)
            // Fewer done than before: failed documents were put back to run
            // again (a retry from the dashboard). The rate starts over.
            if let last = st.window.last, done < last.done { st.window.removeAll() }
            st.window.append((s.elapsedSeconds, done))
            while let first = st.window.first, s.elapsedSeconds - first.seconds > Self.windowSeconds, st.window.count > 2 {
                st.window.removeFirst()
            }
            let rate = Self.docsPerMinute(st.window)
            switch mode {
            case .live:
                // One column short of the width: a line that fills it would
                // leave the cursor waiting to wrap.
                let line = ProgressLine(s, docsPerMinute: rate, etaSeconds: Self.eta(s, rate))
                    .fitted(to: Terminal.columns(of: 2) - 1)
                st.shown = line
                writeStandardError("\r" + line + "\u{1B}[K")
            case .plain:
                guard s.elapsedSeconds - st.lastPlain >= Self.plainEvery else { return }
                st.lastPlain = s.elapsedSeconds
                writeStandardError("batchhost: " + ProgressLine(s, docsPerMinute: rate, etaSeconds: Self.eta(s, rate)).full + "\n")
            case .json:
                writeStandardError(jsonObject([("type", "\"progress\"")] + Self.jsonFields(s, rate)) + "\n")
            case .auto, .off:
                break
            }
        }
    }

    /// Writes whole lines to `fd` with the live line cleared first and drawn
    /// again after, so neither runs into the other.
    func write(_ bytes: UnsafeRawBufferPointer, to fd: Int32) {
        state.withLock { st in
            if st.shown != nil { writeStandardError(Terminal.clearLine) }
            writeAll(fd, bytes)
            if let line = st.shown { writeStandardError("\r" + line + "\u{1B}[K") }
        }
    }

    func write(_ text: String, to fd: Int32 = 2) {
        var text = text
        text.withUTF8 { write(UnsafeRawBufferPointer($0), to: fd) }
    }

    /// Clears the live line for good: what follows is the summary.
    func finish() {
        state.withLock { st in
            if st.shown != nil { writeStandardError(Terminal.clearLine) }
            st.shown = nil
            st.finished = true
        }
    }

    /// Documents per minute over the window; nil until two ticks apart.
    private static func docsPerMinute(_ window: [(seconds: Double, done: UInt64)]) -> Double? {
        guard let first = window.first, let last = window.last, last.seconds > first.seconds else { return nil }
        return Double(last.done - first.done) / (last.seconds - first.seconds) * 60
    }

    private static func eta(_ s: BatchStats, _ docsPerMinute: Double?) -> Double? {
        guard s.totalKnown || s.sampledFrom > 0, let rate = docsPerMinute, rate > 0 else { return nil }
        return Double(s.total - min(s.total, s.finishedCount)) / rate * 60
    }

    /// The fields of a JSON progress object (and of the summary object).
    static func jsonFields(_ s: BatchStats, _ docsPerMinute: Double?) -> [(String, String)] {
        [
            ("elapsed_seconds", format(s.elapsedSeconds, digits: 3)),
            ("done", "\(s.finishedCount)"), ("total", "\(s.total)"), ("total_known", s.totalKnown ? "true" : "false"),
            ("ok", "\(s.ok)"), ("partial", "\(s.partial)"), ("failed", "\(s.failed)"), ("skipped", "\(s.skipped)"),
            ("in_flight", "\(s.inFlight)"), ("retry_waiting", "\(s.retryWaiting)"),
            ("rate_limit_waiting", "\(s.rateLimitWaiting)"), ("sinks_waiting", "\(s.sinksWaiting)"), ("retries", "\(s.retries)"), ("timeouts", "\(s.timeouts)"),
            ("input_tokens", "\(s.inputTokens)"), ("output_tokens", "\(s.outputTokens)"), ("units", "\(s.units)"),
            ("cost_usd", format(s.costUSD, digits: 6)),
            ("estimated_total_cost_usd", format(s.estimatedTotalCostUSD, digits: 6)),
            ("docs_per_minute", docsPerMinute.map { format($0, digits: 2) } ?? "null"),
            ("eta_seconds", eta(s, docsPerMinute).map { format($0, digits: 1) } ?? "null"),
        ]
    }
}

/// `{"key":value,…}` from keys and JSON values.
func jsonObject(_ fields: [(String, String)]) -> String {
    "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
}

/// Writes every byte, retrying short writes.
func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) {
    var offset = 0
    while offset < bytes.count {
        let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return }
        offset += n
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
