import ArgumentParser
import BatchCore

struct OptionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "options",
        abstract: "List every batch option: key, default and meaning (set with -O KEY=VALUE).")

    func run() throws {
        for spec in BatchOptions.table.specs {
            let value = spec.defaultValue.isEmpty ? "(none)" : spec.defaultValue
            print("\(pad(spec.key, 18)) \(pad(value, 8)) \(spec.help)")
        }
    }
}
