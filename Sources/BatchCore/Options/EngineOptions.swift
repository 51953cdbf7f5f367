/// Options of an engine: shared by every batch it runs.
public struct EngineOptions: Sendable {
    public var maxWorkers = 256
    public var pluginDirs: [String] = []
    /// Engine-wide worker caps by tenant (the batch option `tenant`).
    public var tenantMaxWorkers: [String: Int] = [:]

    public init() {}

    public static let table = OptionTable<EngineOptions>(kind: "engine", [
        OptionSpec("max_workers", default: "256",
                   "Global cap on worker threads over all batches of the engine (pending calls of non-blocking processors hold none)") {
            $0.maxWorkers = try ValueParser.integer("max_workers", $1, in: 1...BatchOptions.maxWorkersLimit)
        },
        OptionSpec("plugin_dir", default: "",
                   "Add a directory to the plugin search path (repeatable)") {
            $0.pluginDirs.append(try ValueParser.nonEmpty("plugin_dir", $1, "a directory path"))
        },
        OptionSpec("tenant.max_workers", default: "",
                   "TENANT=N caps the workers of every batch of that tenant together (repeatable; N=0 removes the cap)") {
            let (tenant, cap) = try tenantCap($1)
            $0.tenantMaxWorkers[tenant] = cap == 0 ? nil : cap
        },
    ])

    /// `TENANT=N`: the tenant's name, then its cap.
    private static func tenantCap(_ value: String) throws -> (String, Int) {
        guard let equals = value.lastIndex(of: "="), equals != value.startIndex else {
            throw BatchCoreError(.option, "tenant.max_workers: expected TENANT=N (a tenant name, then a worker count), got '\(value)'")
        }
        let cap = try ValueParser.integer("tenant.max_workers", String(value[value.index(after: equals)...]),
                                          in: 0...BatchOptions.maxWorkersLimit)
        return (String(value[..<equals]), cap)
    }
}
