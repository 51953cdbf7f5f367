/// "50/min", "10/s", "40000/min", "1000/h", "5/2s": a count per period.
public struct Rate: Sendable, Equatable, CustomStringConvertible {
    public var count: Double
    public var seconds: Double

    public var perSecond: Double { count / seconds }
    public var description: String { "\(Int(count))/\(seconds == 1 ? "s" : seconds == 60 ? "min" : seconds == 3600 ? "h" : "\(seconds)s")" }

    public static func parse(_ key: String, _ value: String) throws -> Rate {
        let parts = value.trimmingSpaces.lowercased().split(separator: "/", maxSplits: 1).map(String.init)
        let units: [String: Double] = ["s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600]
        guard parts.count == 2, let count = Double(parts[0]), count > 0, count.isFinite else {
            throw ValueParser.invalid(key, value, "a rate such as 50/min, 10/s or 1000/h")
        }
        var period = parts[1]
        var multiple = 1.0
        if let n = Double(String(period.prefix { $0.isNumber || $0 == "." })), n > 0 {
            multiple = n
            period = String(period.drop { $0.isNumber || $0 == "." })
        }
        guard let unit = units[period] else {
            throw ValueParser.invalid(key, value, "a rate such as 50/min, 10/s or 1000/h (units s, min, h)")
        }
        return Rate(count: count, seconds: unit * multiple)
    }
}
