import Glibc

/// The options of one stage, as plugins read them through `config_get`.
/// Values are kept as C strings so the pointers plugins receive stay valid
/// until the stage stops.
public final class StageConfig: @unchecked Sendable {
    public let label: String
    public let values: [String: String]
    private let cValues: [String: UnsafeMutablePointer<CChar>]
    /// The list price a plugin gave in create() (`set_prices`).
    let defaultPrices = Locked<TokenPrices?>(nil)

    public init(label: String, values: [String: String]) {
        self.label = label
        self.values = values
        self.cValues = values.mapValues { strdup($0)! }
    }

    deinit { cValues.values.forEach { free($0) } }

    public subscript(key: String) -> String? { values[key] }

    func cValue(_ key: String) -> UnsafePointer<CChar>? {
        cValues[key].map { UnsafePointer($0) }
    }

    /// Checks the keys against the processor's declared options.
    func validate(against info: ProcessorInfo) throws {
        guard let declared = info.options else { return }
        let names = declared.map(\.name)
        for key in values.keys.sorted() where !names.contains(key) {
            let base = unknownKey(key, known: names, kind: "'\(info.name)'")
            throw BatchCoreError(.option, "stage '\(label)': " + base.message)
        }
    }
}
