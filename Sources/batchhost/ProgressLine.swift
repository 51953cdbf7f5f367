import BatchCore

/// The progress line's fields, fitted to a width: when they do not all fit,
/// the least important go first (see `Priority`), the rest keep their order.
/// The bar takes the room left over, up to `barWidths.most`.
struct ProgressLine {
    /// Lower is more important; fields of equal priority go together.
    enum Priority: Int, Comparable {
        case count = 0, percent, failed, eta, bar, elapsed, rate, cost, outcomes, waiting, tokens

        static func < (a: Priority, b: Priority) -> Bool { a.rawValue < b.rawValue }
    }

    struct Field {
        let text: String
        let priority: Priority
        /// Joins the field to the one before it.
        let separator: String
        /// Where it shows, left to right.
        let place: Double
    }

    /// The bar's width without and with room to spare, brackets included.
    static let barWidths = (least: 12, most: 32)

    var fields: [Field] = []
    /// How far the batch is (0...1), when the total is known: a bar shows it.
    var fraction: Double? = nil

    init(_ s: BatchStats, docsPerMinute: Double?, etaSeconds: Double?) {
        let total = s.totalKnown ? "\(s.total)" : "\(s.total)+"
        add("\(s.finishedCount)/\(total)", .count, separator: "")
        if s.totalKnown && s.total > 0 {
            let done = min(1, Double(s.finishedCount) / Double(s.total))
            fraction = done
            add(format(done * 100, digits: 1) + "%", .percent, separator: " ")
        }
        add("elapsed " + duration(s.elapsedSeconds), .elapsed)
        if let etaSeconds { add("ETA " + duration(etaSeconds), .eta) }
        if let rate = docsPerMinute { add("\(format(rate, digits: rate < 10 ? 1 : 0)) docs/min", .rate) }
        add("\(s.ok) ok", .outcomes)
        if s.partial > 0 { add("\(s.partial) partial", .outcomes) }
        if s.failed > 0 { add("\(s.failed) failed", .failed) }
        if s.retryWaiting > 0 { add("\(s.retryWaiting) retrying", .waiting) }
        if s.rateLimitWaiting > 0 { add("\(s.rateLimitWaiting) rate-limited", .waiting) }
        if s.sinksWaiting > 0 { add("sink: waiting for database", .failed) }
        let tokens = s.inputTokens &+ s.outputTokens
        if tokens > 0 { add(counted(tokens, "token"), .tokens) }
        if s.costUSD > 0 {
            var cost = dollars(s.costUSD)
            if s.estimatedTotalCostUSD > s.costUSD { cost += " of ~" + dollars(s.estimatedTotalCostUSD) }
            add(cost, .cost)
        }
    }

    private mutating func add(_ text: String, _ priority: Priority, separator: String = " · ") {
        fields.append(Field(text: text, priority: priority, separator: separator, place: Double(fields.count)))
    }

    /// Every field, no bar: for logs.
    var full: String { render(fields, barWidth: nil) }

    /// The most important fields that fit in `width` columns, with a bar
    /// after the percentage when there is room for it.
    func fitted(to width: Int) -> String {
        // The bar goes right after the count and the percentage.
        let bar = fraction == nil ? [] : [Field(text: "", priority: .bar, separator: " ", place: 1.5)]
        var chosen: [Field] = []
        let byImportance = (fields + bar).sorted { ($0.priority.rawValue, $0.place) < ($1.priority.rawValue, $1.place) }
        for candidate in byImportance {
            let trial = chosen + [candidate]
            // The first field that does not fit ends the line: a less
            // important one never shows while a more important one does not.
            // The count always shows, cut if it must be.
            let fits = columns(render(inDisplayOrder(trial), barWidth: Self.barWidths.least)) <= width
            guard fits || chosen.isEmpty else { break }
            chosen = trial
        }
        let ordered = inDisplayOrder(chosen)
        let spare = width - columns(render(ordered, barWidth: Self.barWidths.least))
        let line = render(ordered, barWidth: min(Self.barWidths.most, Self.barWidths.least + max(0, spare)))
        return String(String.UnicodeScalarView(line.unicodeScalars.prefix(width)))
    }

    private func inDisplayOrder(_ chosen: [Field]) -> [Field] {
        chosen.sorted { $0.place < $1.place }
    }

    private func render(_ chosen: [Field], barWidth: Int?) -> String {
        var line = ""
        for field in chosen {
            if !line.isEmpty { line += field.separator }
            if field.priority == .bar, let barWidth, let fraction {
                line += Self.bar(fraction, width: barWidth)
            } else if field.priority != .bar {
                line += field.text
            }
        }
        return line
    }

    /// `[=======>      ]`, `width` columns in all.
    static func bar(_ fraction: Double, width: Int) -> String {
        let inside = max(0, width - 2)
        let filled = Int((Double(inside) * fraction).rounded(.down))
        let head = filled < inside && filled > 0 ? ">" : ""
        let body = String(repeating: "=", count: filled - head.count)
        return "[" + body + head + String(repeating: " ", count: inside - filled) + "]"
    }
}

/// Terminal columns a line takes: one per Unicode scalar, which holds for
/// the text the progress line is made of (ASCII, `·` and ids are not in it).
func columns(_ text: String) -> Int { text.unicodeScalars.count }
