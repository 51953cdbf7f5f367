import Glibc

/// The built-in `python` processor: a Python function, named
/// `module:qualname`, run in worker processes of a Python interpreter
/// (`python -m batchcore.worker`, speaking the worker protocol). Each engine
/// worker thread gets an interpreter of its own, so CPU-bound Python uses
/// every core; a crash, a hang or a leak costs one process, as with plugins
/// under isolation=process. It always runs in worker processes, whatever
/// `isolation` says: the engine has no interpreter of its own.
///
/// Stage options:
/// - `function` (required): `package.module:qualified.name`.
/// - `prepare`: `module:qualname` of a function run once for the stage, in
///   the first worker; its value (pickled) is every call's `doc.shared`.
/// - `python`: the interpreter; default `$BATCHCORE_PYTHON`, else `python3`
///   on `PATH`.
/// - `path`: directories (`:`-separated) put first on the workers'
///   `PYTHONPATH`; the Python bindings pass the host's `sys.path`.
/// - `main_file`: the script a `__main__:name` function comes from, loaded
///   in workers as the module `__mp_main__` (as multiprocessing does).
public final class PythonProcessor: Processor {
    /// The name the built-in is known by.
    public static let name = "python"

    public let info = ProcessorInfo(
        name: PythonProcessor.name,
        version: "1.0.0",
        description: "Runs a Python function (module:qualname) in worker processes",
        kind: .builtin,
        options: [
            StageOption(name: "function", defaultValue: nil,
                        help: "the function to call per document: package.module:qualified.name"),
            StageOption(name: "prepare", defaultValue: nil,
                        help: "module:qualname of a function run once for the stage; its value is every call's doc.shared"),
            StageOption(name: "python", defaultValue: nil,
                        help: "the Python interpreter (default: $BATCHCORE_PYTHON, else python3 on PATH)"),
            StageOption(name: "path", defaultValue: nil,
                        help: "directories (separated by :) put first on the workers' PYTHONPATH"),
            StageOption(name: "main_file", defaultValue: nil,
                        help: "the script whose functions are named __main__:NAME (loaded as __mp_main__)"),
        ])

    public init() {}

    public func start(config: StageConfig) throws -> ProcessorInstance {
        try start(config: config, options: BatchOptions())
    }

    /// Starts the stage's first worker (which runs `prepare`, if any).
    func start(config: StageConfig, options: BatchOptions) throws -> IsolatedInstance {
        let stage = "stage '\(config.label)'"
        let function = try Self.qualifiedName("function", config["function"], stage: stage, required: true)!
        _ = try Self.qualifiedName("prepare", config["prepare"], stage: stage, required: false)
        let python = try Self.interpreter(config["python"], stage: stage)
        var environment: [String] = []
        if let path = config["path"], !path.isEmpty {
            let inherited = getenv("PYTHONPATH").map { ":" + String(cString: $0) } ?? ""
            environment.append("PYTHONPATH=" + path + inherited)
        }
        let command = WorkerCommand(
            argv: [python, "-m", "batchcore.worker"], environment: environment,
            startFailureHint: "; is the batchcore package importable by \(python)? Install it there "
                + "(pip install ./bindings/python) or add its directory to the stage option 'path'; "
                + "the worker's standard error says more")
        var request = StartRequest(kind: .python, path: function, label: config.label, options: config.values,
                                   memoryLimit: options.workerMemoryLimit ?? 0)
        // Without shared bytes the first worker runs `prepare`, and hands back what it made.
        request.shared = config.shared.prepared ? config.shared.bytes : nil
        return try IsolatedInstance(command: command, request: request, options: options)
    }

    /// Checks a `module:qualname` option.
    private static func qualifiedName(_ key: String, _ value: String?, stage: String, required: Bool) throws -> String? {
        guard let value else {
            guard !required else {
                throw BatchCoreError(.option, "\(stage): option '\(key)' is required for python: the function to call "
                    + "per document, as package.module:name (e.g. --set function=mypkg.classify:classify)")
            }
            return nil
        }
        let parts = value.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty,
              !value.contains(where: { $0 == " " || $0 == "/" }) else {
            throw BatchCoreError(.option, "\(stage): option '\(key)' is '\(value)'; expected package.module:name, "
                + "a function importable by its module and qualified name (e.g. mypkg.classify:classify)")
        }
        return value
    }

    /// The interpreter: the `python` option, `$BATCHCORE_PYTHON`, or
    /// `python3`; a name without a slash is looked up on `PATH`.
    private static func interpreter(_ option: String?, stage: String) throws -> String {
        let fromEnvironment = getenv("BATCHCORE_PYTHON").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
        let given = option ?? fromEnvironment ?? "python3"
        let source = option != nil ? "option 'python'" : fromEnvironment != nil ? "$BATCHCORE_PYTHON" : "the default"
        let candidates = given.contains("/") ? [given]
            : (getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin").split(separator: ":").map { "\($0)/\(given)" }
        guard let found = candidates.first(where: { access($0, X_OK) == 0 }) else {
            throw BatchCoreError(.notFound, "\(stage): no Python interpreter '\(given)' (from \(source)) "
                + (given.contains("/") ? "is executable" : "on PATH")
                + "; name one with --set python=/path/to/python or $BATCHCORE_PYTHON")
        }
        return found
    }
}
