/// Token and unit counts. Sums saturate at `limit` (INT64_MAX, the largest
/// count the journal stores) instead of wrapping, so a processor reporting
/// absurd usage can never make a total small again.
public enum Count {
    public static let limit = UInt64(Int64.max)

    public static func sum(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let (total, overflow) = a.addingReportingOverflow(b)
        return overflow || total > limit ? limit : total
    }

    /// The same for counts stored as SQLite integers (never negative).
    public static func sum(_ a: Int64, _ b: Int64) -> Int64 {
        Int64(sum(UInt64(max(0, a)), UInt64(max(0, b))))
    }
}
