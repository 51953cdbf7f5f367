/// How a worker process is started: the `batchcore-worker` executable, or a
/// Python interpreter running `-m batchcore.worker`. The engine appends
/// `--serve-fd 3`; `environment` ("KEY=VALUE") adds to the engine's own.
struct WorkerCommand: Sendable {
    var argv: [String]
    var environment: [String] = []
    /// Said after "the worker process could not start the processor: …"
    /// when the child exits before it answers its start.
    var startFailureHint = ""
}
