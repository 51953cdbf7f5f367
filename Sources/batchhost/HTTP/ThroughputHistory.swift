/// Documents finished over time, a sample a second for the last ten
/// minutes: the rate of the last minute and the page's chart.
struct ThroughputHistory: Sendable {
    struct Sample: Sendable {
        var time: Double
        var finished: UInt64
    }

    static let span = 600.0
    private(set) var samples: [Sample] = []

    mutating func record(time: Double, finished: UInt64) {
        if let last = samples.last, time - last.time < 1 { return }
        samples.append(Sample(time: time, finished: finished))
        if let cut = samples.firstIndex(where: { time - $0.time <= Self.span }), cut > 0 {
            samples.removeFirst(cut)
        }
    }

    /// Documents a second over the last `seconds` (0 without two samples).
    func rate(over seconds: Double) -> Double {
        guard let last = samples.last,
              let first = samples.first(where: { last.time - $0.time <= seconds }),
              last.time > first.time else { return 0 }
        // Fewer finished than before (documents put back to run again) is no negative rate.
        return max(0, Double(last.finished) - Double(first.finished)) / (last.time - first.time)
    }
}
