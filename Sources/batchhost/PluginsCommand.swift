import ArgumentParser
import BatchCore

struct PluginsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugins",
        abstract: "List the processors found: name, version, description and file.",
        discussion: """
        Plugins are looked for in --plugin-dir directories, $BATCHCORE_PLUGIN_PATH \
        (colon-separated), ./plugins, and beside the batchcore library (or \
        batchhost). A name found in several places is listed once, with the \
        file found first: the one -p NAME uses.
        """)

    @Option(name: .customLong("plugin-dir"), help: ArgumentHelp("Also look for plugins here (repeatable).", valueName: "dir"))
    var pluginDirs: [String] = []

    @Flag(help: "Also list each processor's options.")
    var verbose = false

    func run() throws {
        let engine = Engine()
        for dir in pluginDirs { try engine.set("plugin_dir", dir) }
        var failures = 0
        for entry in engine.listProcessors() {
            switch entry {
            case .success(let info):
                let version = info.version.isEmpty ? "-" : info.version
                print("\(pad(info.name, 12)) \(pad(version, 8)) \(info.description)")
                let origin = info.path.map { info.kind == .declared ? "\($0) (declared)" : $0 } ?? "(\(info.kind.rawValue))"
                print("\(pad("", 12)) \(pad("", 8)) \(origin)")
                if verbose, let options = info.options {
                    for option in options {
                        let value = option.defaultValue.map { " (default: \($0))" } ?? ""
                        print("\(pad("", 12)) \(pad("", 8))   --set \(option.name)=…  \(option.help)\(value)")
                    }
                }
            case .failure(let failure):
                failures += 1
                writeStandardError("batchhost: cannot use \(failure.path): \(failure.error.message)\n")
            }
        }
        if failures > 0 { throw ExitCode(Exit.documentsFailed.rawValue) }
    }
}

func pad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
}
