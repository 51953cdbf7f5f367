/// How long a stage's calls took: a histogram with fixed bounds (seconds),
/// so that snapshots from many runs and workers add up.
public struct StageDurations: Sendable, Equatable {
    /// Upper bounds of the buckets, in seconds; a last bucket holds the rest.
    public static let bounds: [Double] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]

    public let stage: String
    /// Calls per bucket (not cumulative); one more entry than `bounds`.
    public private(set) var bucketCounts: [UInt64]
    public private(set) var count: UInt64 = 0
    public private(set) var sumSeconds = 0.0

    public init(stage: String) {
        self.stage = stage
        bucketCounts = Array(repeating: 0, count: Self.bounds.count + 1)
    }

    mutating func observe(seconds: Double) {
        let bucket = Self.bounds.firstIndex { seconds <= $0 } ?? Self.bounds.count
        bucketCounts[bucket] += 1
        count += 1
        sumSeconds += seconds
    }
}
