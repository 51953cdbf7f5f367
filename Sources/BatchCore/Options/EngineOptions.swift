/// Options of an engine: shared by every batch it runs.
public struct EngineOptions: Sendable {
    public var maxWorkers = 256
    public var pluginDirs: [String] = []

    public init() {}

    public static let table = OptionTable<EngineOptions>(kind: "engine", [
        OptionSpec("max_workers", default: "256",
                   "Global cap on worker threads over all batches of the engine") {
            $0.maxWorkers = try ValueParser.integer("max_workers", $1, in: 1...BatchOptions.maxWorkersLimit)
        },
        OptionSpec("plugin_dir", default: "",
                   "Add a directory to the plugin search path (repeatable)") {
            $0.pluginDirs.append(try ValueParser.nonEmpty("plugin_dir", $1, "a directory path"))
        },
    ])
}
