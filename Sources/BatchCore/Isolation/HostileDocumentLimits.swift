/// The limits a stage gets when its plugin reads hostile documents
/// (BC_PLUGIN_FLAG_PREFERS_PROCESS, e.g. pdf and ocr) and it runs in worker
/// processes: a malformed PDF can make a renderer loop or allocate without
/// end, so such a stage is never left unbounded. The user's own `timeout`
/// and `worker.memory_limit` always win.
struct HostileDocumentLimits: Equatable {
    /// Per attempt: a 300 dpi render and OCR of a long page takes seconds,
    /// not minutes.
    static let timeout = 120.0
    /// Address space per worker: poppler, cairo and tesseract at 300 dpi
    /// stay well under 1 GiB on ordinary pages.
    static let memoryLimit: UInt64 = 2 << 30

    /// The memory limit for the stage's workers; nil for none.
    let memoryLimit: UInt64?
    /// The timeout for calls the batch gave no deadline; nil for none.
    let defaultTimeout: Double?

    init(for info: ProcessorInfo, options: BatchOptions) {
        let hostile = info.prefersProcess
        memoryLimit = options.workerMemoryLimit ?? (hostile ? Self.memoryLimit : nil)
        defaultTimeout = options.timeout == nil && hostile ? Self.timeout : nil
    }
}
