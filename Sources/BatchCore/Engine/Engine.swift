
/// Owns the worker threads, the global worker cap and the processors. Many
/// batches may run on one engine at once; the scheduler is fair between them.
public final class Engine: Sendable {
    let scheduler: Scheduler
    let watchdog = Watchdog()
    private let state: Locked<State>

    private struct State {
        var options = EngineOptions()
        var registered: [String: Processor] = [:]
        var loaded: [String: Processor] = [:]  // plugins and declared processors, by file path
        var limiters: [String: RateLimiter] = [:]
    }

    public init() {
        let options = EngineOptions()
        scheduler = Scheduler(maxWorkers: options.maxWorkers)
        state = Locked(State(options: options))
    }

    deinit {
        shutdown()
    }

    /// Stops the engine's threads and waits until each has ended. Call it
    /// when no batch runs and none will (a batch started later never runs);
    /// freeing the engine does it too. A host about to exit calls it first:
    /// a thread still ending while the process exits can crash it.
    public func shutdown() {
        scheduler.shutdown()
        watchdog.shutdown()
    }

    public var options: EngineOptions { state.withLock { $0.options } }

    /// Sets an engine option (`max_workers`, `plugin_dir`, `tenant.max_workers`).
    public func set(_ key: String, _ value: String) throws {
        let (before, after) = try state.withLock { state in
            let before = state.options
            try EngineOptions.table.set(key, value, on: &state.options)
            return (before, state.options)
        }
        scheduler.setMaxWorkers(after.maxWorkers)
        for tenant in Set(before.tenantMaxWorkers.keys).union(after.tenantMaxWorkers.keys)
        where before.tenantMaxWorkers[tenant] != after.tenantMaxWorkers[tenant] {
            scheduler.setTenantCap(tenant, after.tenantMaxWorkers[tenant])
        }
    }

    /// Registers a host processor under its name; it shadows plugins.
    public func register(_ processor: Processor) throws {
        let name = processor.info.name
        guard !name.isEmpty else { throw BatchCoreError(.invalidArgument, "a processor needs a non-empty name") }
        guard name != ExecProcessor.name && name != PythonProcessor.name else {
            throw BatchCoreError(.invalidArgument, "the name '\(name)' belongs to the built-in processor; choose another")
        }
        try state.withLock { state in
            guard state.registered[name] == nil else {
                throw BatchCoreError(.invalidArgument, "a processor named '\(name)' is already registered on this engine")
            }
            state.registered[name] = processor
        }
    }

    /// The limiter called `name`, made on first use. Every batch that names
    /// it shares it; naming it with other limits is an error.
    public func limiter(named name: String, requests: Rate?, tokens: Rate?, burst: Int) throws -> RateLimiter {
        try state.withLock { state in
            if let existing = state.limiters[name] {
                guard existing.requests == requests, existing.tokens == tokens, existing.burst == burst else {
                    throw BatchCoreError(.option,
                        "the rate limiter '\(name)' already exists with \(existing.summary); give the same limits or another rate_limit.name")
                }
                return existing
            }
            let limiter = RateLimiter(name: name, requests: requests, tokens: tokens, burst: burst)
            state.limiters[name] = limiter
            return limiter
        }
    }

    /// Finds a processor: registered ones, then the built-ins exec and python, then
    /// plugins and declared processors (`NAME.toml`) by name or by path.
    public func processor(named name: String) throws -> Processor {
        if let registered = state.withLock({ $0.registered[name] }) { return registered }
        if name == ExecProcessor.name { return ExecProcessor() }
        if name == PythonProcessor.name { return PythonProcessor() }
        let search = PluginSearchPath(explicit: options.pluginDirs)
        if name.utf8.contains(UInt8(ascii: "/")) || name.hasByteSuffix(".so") || PluginSearchPath.isDeclaration(name) {
            return try loadProcessor(at: name)
        }
        guard let path = search.find(name) ?? findDeclaration(named: name, in: search) else {
            let files = PluginSearchPath.fileNames(for: name).joined(separator: ", ")
            let dirs = search.directories.joined(separator: ", ")
            let registered = state.withLock { $0.registered.keys.sorted() }
            var message = "no processor named '\(name)': looked for \(files) in: \(dirs)"
            message += "; built-in: \(ExecProcessor.name), \(PythonProcessor.name)"
            if !registered.isEmpty { message += "; registered: \(registered.joined(separator: ", "))" }
            message += ". Add a directory with --plugin-dir (plugin_dir) or $BATCHCORE_PLUGIN_PATH; `batchhost plugins` lists what is found"
            throw BatchCoreError(.notFound, message)
        }
        return try loadProcessor(at: path)
    }

    /// A plugin or a declared processor, loaded once per engine.
    private func loadProcessor(at path: String) throws -> Processor {
        let declared = PluginSearchPath.isDeclaration(path)
        return try state.withLock { state in
            if let loaded = state.loaded[path] { return loaded }
            guard access(path, F_OK) == 0 else {
                throw BatchCoreError(.notFound, "\(declared ? "declaration" : "plugin") file '\(path)' does not exist")
            }
            let processor: Processor = declared ? try DeclaredProcessor(path: path) : try NativePlugin(path: path)
            state.loaded[path] = processor
            return processor
        }
    }

    /// A declaration whose `name` field differs from its file name.
    private func findDeclaration(named name: String, in search: PluginSearchPath) -> String? {
        search.candidates().first { path in
            PluginSearchPath.isDeclaration(path) && (try? DeclarationParser.parse(file: path))?.name == name
        }
    }

    /// Every processor the engine can find: registered, built-in, then each
    /// plugin file on the search path (a file that fails to load is listed
    /// with its error). A name is listed once: where `processor(named:)`
    /// finds it, the first in search order; a file reached twice (a
    /// directory on the path twice, a symbolic link) is read once.
    public func listProcessors() -> [Result<ProcessorInfo, PluginLoadFailure>] {
        var list: [Result<ProcessorInfo, PluginLoadFailure>] = []
        list += state.withLock { $0.registered.values.map(\.info) }.sorted { $0.name < $1.name }.map { .success($0) }
        list.append(.success(ExecProcessor().info))
        list.append(.success(PythonProcessor().info))
        var names = Set(list.compactMap { try? $0.get().name })
        var files = Set<String>()
        for path in PluginSearchPath(explicit: options.pluginDirs).candidates()
        where files.insert(PluginSearchPath.resolved(path)).inserted {
            do {
                let info = try loadProcessor(at: path).info
                if names.insert(info.name).inserted { list.append(.success(info)) }
            } catch let error as BatchCoreError {
                list.append(.failure(PluginLoadFailure(path: path, error: error)))
            } catch {
                list.append(.failure(PluginLoadFailure(path: path, error: BatchCoreError(.plugin, "\(error)"))))
            }
        }
        return list
    }
}

public struct PluginLoadFailure: Error, Sendable {
    public let path: String
    public let error: BatchCoreError
}

import Glibc
