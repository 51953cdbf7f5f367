import Glibc

/// Seconds since the epoch in ISO 8601, UTC, with milliseconds:
/// `2026-03-14T09:26:53.589Z` (what logs and database sinks write).
public func isoTimestamp(_ seconds: Double) -> String {
    var whole = time_t(seconds.rounded(.down))
    var millis = Int((seconds - Double(whole)) * 1000 + 0.5)
    if millis == 1000 {
        whole += 1
        millis = 0
    }
    var parts = tm()
    gmtime_r(&whole, &parts)
    var text: [UInt8] = []
    text.reserveCapacity(24)
    func digits(_ n: Int, _ width: Int) {
        var divisor = 1
        for _ in 1..<width { divisor *= 10 }
        while divisor > 0 {
            text.append(UInt8(ascii: "0") + UInt8(n / divisor % 10))
            divisor /= 10
        }
    }
    digits(Int(parts.tm_year) + 1900, 4); text.append(UInt8(ascii: "-"))
    digits(Int(parts.tm_mon) + 1, 2); text.append(UInt8(ascii: "-"))
    digits(Int(parts.tm_mday), 2); text.append(UInt8(ascii: "T"))
    digits(Int(parts.tm_hour), 2); text.append(UInt8(ascii: ":"))
    digits(Int(parts.tm_min), 2); text.append(UInt8(ascii: ":"))
    digits(Int(parts.tm_sec), 2); text.append(UInt8(ascii: "."))
    digits(millis, 3); text.append(UInt8(ascii: "Z"))
    return String(decoding: text, as: UTF8.self)
}
