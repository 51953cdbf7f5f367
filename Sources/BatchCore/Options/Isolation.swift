/// Where a batch runs its processors (batch option `isolation`).
public enum Isolation: String, Sendable, CaseIterable {
    /// In the engine's process, on its worker threads.
    case thread
    /// Each worker thread talks to a child process of its own (`batchcore-worker`)
    /// that runs the processor: a crash, a hang or a leak ends that process,
    /// not the batch.
    case process
    /// `process` for plugins that declare they read hostile documents
    /// (BC_PLUGIN_FLAG_PREFERS_PROCESS), `thread` for every other processor.
    case auto
}
