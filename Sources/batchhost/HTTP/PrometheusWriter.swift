/// Writes the Prometheus text exposition format (version 0.0.4): a HELP
/// and TYPE line per metric family, then its samples.
struct PrometheusWriter {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    enum Kind: String { case counter, gauge, histogram }

    private(set) var text = ""

    mutating func family(_ name: String, _ kind: Kind, help: String) {
        text += "# HELP \(name) \(escaped(help, quotes: false))\n# TYPE \(name) \(kind.rawValue)\n"
    }

    mutating func sample(_ name: String, _ labels: [(String, String)], _ value: Double) {
        text += name
        if !labels.isEmpty {
            text += "{" + labels.map { "\($0.0)=\"\(escaped($0.1, quotes: true))\"" }.joined(separator: ",") + "}"
        }
        text += " \(formatted(value))\n"
    }

    /// A histogram's cumulative buckets, sum and count, from per-bucket counts
    /// (one more count than bounds: the last is above every bound).
    mutating func histogram(_ name: String, _ labels: [(String, String)], bounds: [Double], counts: [UInt64], sum: Double) {
        var cumulative: UInt64 = 0
        for (index, count) in counts.enumerated() {
            cumulative += count
            let bound = index < bounds.count ? formatted(bounds[index]) : "+Inf"
            sample(name + "_bucket", labels + [("le", bound)], Double(cumulative))
        }
        sample(name + "_sum", labels, sum)
        sample(name + "_count", labels, Double(cumulative))
    }

    private func formatted(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded() && abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    /// Backslash and newline (and in label values, the double quote) escaped.
    private func escaped(_ text: String, quotes: Bool) -> String {
        var out = ""
        for character in text {
            switch character {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\"" where quotes: out += "\\\""
            default: out.append(character)
            }
        }
        return out
    }
}
