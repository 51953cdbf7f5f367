/// Which documents a sample run processes: `size` of `total`, spread evenly
/// over the input (one from each stretch of total/size documents), so a
/// sample of a folder sorted by name is not just its first files.
public struct SampleSelection: Sendable, Equatable {
    public let size: Int
    public let total: Int

    public init(size: Int, of total: Int) {
        self.size = min(size, total)
        self.total = total
    }

    /// Whether the document at `index` (0-based, in input order) is sampled.
    public func selects(_ index: Int) -> Bool {
        guard total > 0, index >= 0, index < total else { return false }
        // The last document of each stretch: exactly `size` are chosen.
        return (index + 1) * size / total > index * size / total
    }
}
