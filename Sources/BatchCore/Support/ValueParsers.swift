/// Parsers of option values: batch, engine and stage options and rate
/// limits. Each error names the key, the value and what was expected.
public enum ValueParser {
    static func invalid(_ key: String, _ value: String, _ expected: String) -> BatchCoreError {
        BatchCoreError(.option, "invalid value '\(value)' for option '\(key)': expected \(expected)")
    }

    public static func integer(_ key: String, _ value: String, in range: ClosedRange<Int>) throws -> Int {
        guard let n = Int(value.trimmingSpaces), range.contains(n) else {
            throw invalid(key, value, "a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return n
    }

    public static func bool(_ key: String, _ value: String) throws -> Bool {
        switch value.trimmingSpaces.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw invalid(key, value, "true or false (also yes/no, on/off, 1/0)")
        }
    }

    /// Seconds from "250ms", "2s", "1.5", "5m" or "1h".
    public static func duration(_ key: String, _ value: String, in range: ClosedRange<Double>) throws -> Double {
        let text = value.trimmingSpaces.lowercased()
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        var number = text
        var scale = 1.0
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            number = String(text.dropLast(suffix.count))
            scale = factor
            break
        }
        guard let n = Double(number.trimmingSpaces), n.isFinite, range.contains(n * scale) else {
            throw invalid(key, value, "a duration such as 500ms, 2s, 1.5m or 1h, from \(range.lowerBound)s to \(range.upperBound)s")
        }
        return n * scale
    }

    /// A decimal number such as "5", "0.25" or "1e-3".
    public static func number(_ key: String, _ value: String, in range: ClosedRange<Double>) throws -> Double {
        guard let n = Double(value.trimmingSpaces), n.isFinite, range.contains(n) else {
            throw invalid(key, value, "a number from \(range.lowerBound) to \(range.upperBound)")
        }
        return n
    }

    public static func nonEmpty(_ key: String, _ value: String, _ what: String) throws -> String {
        guard !value.isEmpty else { throw invalid(key, value, what) }
        return value
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
