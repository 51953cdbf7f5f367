import Glibc

/// Seconds since the epoch on this machine's clock: for heartbeats and the
/// rate `batchhost status` shows, never for leases or limits (the server's clock).
public func wallSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}
