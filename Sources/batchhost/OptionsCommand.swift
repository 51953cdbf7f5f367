import ArgumentParser
import BatchCore

struct OptionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "options",
        abstract: "List every batch option: key, default and meaning (set with -O KEY=VALUE).")

    func run() throws {
        let specs = BatchOptions.table.specs
        let rows = specs.map { (key: $0.key, value: $0.defaultValue.isEmpty ? "(none)" : $0.defaultValue, help: $0.help) }
        let keyWidth = rows.map(\.key.count).max() ?? 0
        let valueWidth = rows.map(\.value.count).max() ?? 0
        for row in rows {
            print("\(pad(row.key, keyWidth))  \(pad(row.value, valueWidth))  \(row.help)")
        }
    }
}
