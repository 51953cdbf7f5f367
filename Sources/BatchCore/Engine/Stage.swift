/// One step of a batch's pipeline: a processor and its options.
struct StageSpec: Sendable {
    var label: String
    var processor: String
    var options: [String: String] = [:]
}

/// A stage whose processor has started.
struct RunningStage: Sendable {
    let label: String
    let name: String
    let instance: ProcessorInstance
    /// What its tokens cost: the batch's prices, else the plugin's own.
    let prices: TokenPrices?
    /// Its calls never block the worker's thread (a non-blocking processor in this process).
    let nonBlocking: Bool
}

extension StageSpec {
    /// The label a processor reference gets by default: the plugin name for
    /// a path ("plugins/libfoo.so" → "foo", "plugins/crc32.toml" → "crc32").
    static func defaultLabel(for processor: String) -> String {
        var base = lastPathComponent(processor)
        if let name = base.droppingByteSuffix(".so") { base = name }
        if let name = base.droppingByteSuffix(".toml") { base = name }
        for prefix in ["libbatchcore-", "lib"] {
            if let rest = base.droppingBytePrefix(prefix), !rest.isEmpty { return rest }
        }
        return base
    }
}
