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
}

extension StageSpec {
    /// The label a processor reference gets by default: the plugin name for
    /// a path ("plugins/libfoo.so" → "foo", "plugins/crc32.toml" → "crc32").
    static func defaultLabel(for processor: String) -> String {
        var base = processor.split(separator: "/").last.map(String.init) ?? processor
        if base.hasSuffix(".so") { base.removeLast(3) }
        if base.hasSuffix(".toml") { base.removeLast(5) }
        for prefix in ["libbatchcore-", "lib"] where base.hasPrefix(prefix) && base.count > prefix.count {
            base.removeFirst(prefix.count)
            break
        }
        return base
    }
}
