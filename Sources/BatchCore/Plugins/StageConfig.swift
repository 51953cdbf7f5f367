import Glibc

/// The options of one stage, as plugins read them through `config_get`.
/// Values are kept as C strings so the pointers plugins receive stay valid
/// until the stage stops.
public final class StageConfig: @unchecked Sendable {  // unchecked: its C strings are written in init and only read after; the rest is locked
    public let label: String
    public let values: [String: String]
    private let cValues: [String: UnsafeMutablePointer<CChar>]
    /// The list price a plugin gave in create() (`set_prices`).
    let defaultPrices = Locked<TokenPrices?>(nil)
    /// What prepare() handed every create() (`set_shared`), once it ran.
    let shared = SharedBytes()
    /// Tokens prepare() spent (`add_prepare_usage`).
    let prepareUsage = Locked(TokenUsage())

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

/// The bytes a plugin's prepare() gives every create() of its stage. Kept
/// in one allocation so the pointer create() borrows stays valid until the
/// stage stops.
final class SharedBytes: @unchecked Sendable {  // unchecked: storage is only reached under lock
    private let lock = Monitor()
    private var storage: UnsafeMutableRawBufferPointer? = nil
    /// prepare() ran (here, or in the engine for a worker process).
    private var isPrepared = false

    deinit { storage?.deallocate() }

    func set<Bytes: Collection<UInt8>>(_ bytes: Bytes) {
        lock.withLock {
            storage?.deallocate()
            let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
            copy.copyBytes(from: bytes)
            storage = UnsafeMutableRawBufferPointer(rebasing: copy[0..<bytes.count])
        }
    }

    var bytes: [UInt8]? { lock.withLock { storage.map { Array($0) } } }

    /// What an earlier run's prepare made (kept in the journal): prepare
    /// does not run again.
    func restore(_ bytes: [UInt8]) {
        set(bytes)
        prepared = true
    }

    /// The borrowed pointer and length for `shared()`.
    var raw: (UnsafeRawPointer?, Int) { lock.withLock { (storage?.baseAddress.map { UnsafeRawPointer($0) }, storage?.count ?? 0) } }

    var prepared: Bool {
        get { lock.withLock { isPrepared } }
        set { lock.withLock { isPrepared = newValue } }
    }
}
