import CBatchCore

/// A Retry-After header as milliseconds to wait: delay-seconds, or an HTTP
/// date (RFC 9110: IMF-fixdate, or the obsolete RFC 850 and asctime forms)
/// counted from `now` (Unix seconds). A date already past means now; one
/// further than `retryAfterDateCeiling` ahead waits that long, since the date is
/// read on the server's clock, not ours. Nil when the value is neither.
func retryAfterMilliseconds(_ value: String, now: Double = wallClockSeconds()) -> UInt64? {
    let text = value.trimmingSpaces
    if let seconds = Double(text) {
        guard seconds >= 0, seconds.isFinite else { return nil }
        return UInt64(min(seconds, 86_400) * 1000)
    }
    guard let date = httpDate(text) else { return nil }
    return UInt64(min(max(0, date - now), retryAfterDateCeiling) * 1000)
}

/// The longest wait an HTTP-date Retry-After is honoured for, in seconds.
let retryAfterDateCeiling: Double = 3600

/// An HTTP date in Unix seconds, or nil.
private func httpDate(_ text: String) -> Double? {
    var seconds: Int64 = 0
    return bc_shim_http_date(text, &seconds) == 1 ? Double(seconds) : nil
}
