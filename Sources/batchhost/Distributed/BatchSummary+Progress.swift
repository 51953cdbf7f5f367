import BatchCore
import BatchCoreRedis

extension BatchSummary {
    /// "open: 120 of 500 committed (118 ok, 0 partial, 2 failed), 8 in flight, 42 docs/min, ETA 9m02s"
    var progressLine: String {
        var parts = ["\(state?.rawValue ?? "unknown"): \(committed) of \(total.map(String.init) ?? "?") committed (\(count("ok")) ok, \(count("partial")) partial, \(count("failed")) failed)"]
        if inFlight > 0 { parts.append("\(inFlight) in flight") }
        if retryWaiting > 0 { parts.append("\(retryWaiting) waiting to retry") }
        parts.append("\(format(perMinute, digits: 0)) docs/min")
        if let eta = etaSeconds { parts.append("ETA \(duration(eta))") }
        if costUSD > 0 { parts.append(dollars(costUSD)) }
        return parts.joined(separator: ", ")
    }
}
