import BatchCore

/// Failures grouped by stage and error, kept in memory when the run has no
/// journal to ask. Bounded: past `maxGroups` errors, new ones are only counted.
struct FailureTally: Sendable {
    static let maxGroups = 50
    static let maxExamples = 3

    private(set) var groups: [FailureGroup] = []
    /// Failures whose error did not fit in a group.
    private(set) var ungrouped: UInt64 = 0

    mutating func add(_ result: DocumentResult) {
        let error = result.error ?? ""
        if let at = groups.firstIndex(where: { $0.stage == result.failedStageLabel && $0.error == error }) {
            groups[at].count += 1
            if groups[at].exampleIDs.count < Self.maxExamples { groups[at].exampleIDs.append(result.document.id) }
        } else if groups.count < Self.maxGroups {
            groups.append(FailureGroup(stage: result.failedStageLabel, error: error, count: 1, exampleIDs: [result.document.id]))
        } else {
            ungrouped += 1
        }
    }

    /// Largest groups first; the ungrouped ones last, as one.
    var largest: [FailureGroup] {
        let sorted = groups.sorted { $0.count > $1.count }
        guard ungrouped > 0 else { return sorted }
        return sorted + [FailureGroup(stage: nil, error: "(other errors, past the \(Self.maxGroups) kept without a journal)", count: ungrouped)]
    }
}
