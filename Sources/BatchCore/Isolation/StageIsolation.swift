/// Starting a stage where the batch's `isolation` option says.
extension Isolation {
    /// Where `info`'s stages run under this setting.
    func resolved(for info: ProcessorInfo) -> Isolation {
        self == .auto ? (info.prefersProcess ? .process : .thread) : self
    }

    /// Starts `processor` for one stage as `options.isolation` says.
    ///
    /// In process mode: plugins and declared processors run in worker
    /// processes; `exec` is unchanged (each command is a child process
    /// already); a processor the host registered lives in the host's memory,
    /// so it cannot, and the stage does not start. The `python` processor
    /// runs in worker processes in every mode.
    static func start(_ processor: Processor, config: StageConfig, options: BatchOptions) throws -> ProcessorInstance {
        let info = processor.info
        if let python = processor as? PythonProcessor {
            let instance = try python.start(config: config, options: options)
            if !config.shared.prepared, let shared = instance.shared { config.shared.restore(shared) }
            return instance
        }
        guard options.isolation.resolved(for: info) == .process, info.kind != .builtin else {
            return try processor.start(config: config)
        }
        guard let kind = WorkerKind(rawValue: info.kind.rawValue), let path = info.path else {
            throw BatchCoreError(.option,
                "stage '\(config.label)': processor '\(info.name)' was registered by the host program and lives in its memory, "
                + "so it cannot run with isolation=process; use isolation=thread, or make it a plugin")
        }
        // One prepare() for the stage, here; every worker's create() gets its bytes.
        try (processor as? NativePlugin)?.prepare(config: config)
        let limits = HostileDocumentLimits(for: info, options: options)
        var request = StartRequest(kind: kind, path: path, label: config.label, options: config.values,
                                   memoryLimit: limits.memoryLimit ?? 0)
        request.shared = config.shared.bytes
        let instance = try IsolatedInstance(command: WorkerCommand(argv: [try WorkerProcess.executable()]), request: request,
                                            options: options, defaultTimeout: limits.defaultTimeout)
        config.defaultPrices.withLock { $0 = instance.listPrices }
        return instance
    }
}
