import ArgumentParser
import BatchCore
import BatchCoreRedis
import Glibc

/// The flags that say what a submitted batch runs: stages, their options and
/// the batch options `run` takes, checked as `run` checks them.
struct BatchDefinition: ParsableArguments {
    @Option(name: [.short, .customLong("processor")], help: "A processor per stage, in order: a plugin name, a path to a plugin, or exec (repeatable).")
    var processors: [String] = []

    @Option(name: .customLong("set"), help: ArgumentHelp("A stage option: KEY=VALUE for the last stage, STAGE.KEY=VALUE for a named one (repeatable).", valueName: "key=value"))
    var stageOptions: [String] = []

    @Option(name: [.customShort("O"), .customLong("option")], help: ArgumentHelp("Any batch option, KEY=VALUE (see `batchhost options`; repeatable).", valueName: "key=value"))
    var batchOptions: [String] = []

    /// Limits and the budget are shared by every worker of the batch.
    @OptionGroup var limits: LimitFlags

    @Option(help: ArgumentHelp(optionHelp("tenant"), valueName: "name"))
    var tenant: String?

    @Option(help: ArgumentHelp("How long a worker holds a document without renewing its lease; a dead worker's documents run elsewhere after it.", valueName: "duration"))
    var lease: String = "60s"

    /// The batch options as `run` would set them, in order.
    var options: [[String]] {
        get throws {
            var pairs = try batchOptions.map { let (k, v) = try splitAssignment($0, flag: "--option"); return [k, v] }
            pairs += limits.options.map { [$0.key, $0.value] }
            if let tenant { pairs.append(["tenant", tenant]) }
            return pairs
        }
    }

    /// The plan, checked on `engine`: the processors exist there and the
    /// options are valid, as `run` checks them.
    func plan(command: [String], engine: Engine) throws -> BatchPlan {
        var names = processors
        if !command.isEmpty && names.last != ExecProcessor.name { names.append(ExecProcessor.name) }
        guard !names.isEmpty else {
            throw ValidationError("no processor: name one with -p NAME (see `batchhost plugins`), or give a command after --")
        }
        let batch = Batch(engine: engine)
        var stages: [BatchPlan.Stage] = []
        for name in names {
            _ = try engine.processor(named: name)
            stages.append(.init(processor: name, label: try batch.addStage(processor: name), options: [:]))
        }
        if !command.isEmpty { stages[stages.count - 1].options["command"] = ExecProcessor.argvJSON(command) }
        for assignment in stageOptions {
            let (key, value) = try splitAssignment(assignment, flag: "--set")
            if let dot = key.firstIndex(of: "."), let index = stages.firstIndex(where: { $0.label == key[..<dot] }) {
                stages[index].options[String(key[key.index(after: dot)...])] = value
            } else {
                stages[stages.count - 1].options[key] = value
            }
        }
        let options = try self.options
        let plan = BatchPlan(stages: stages, options: options, tenant: tenant ?? "default",
                             leaseMilliseconds: Int64(try ValueParser.duration("--lease", lease, in: 1...86_400) * 1000))
        _ = try DistributedRun.batch(plan, engine: engine)
        return plan
    }
}
