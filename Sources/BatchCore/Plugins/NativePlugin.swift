import CBatchCore
import Glibc

/// A processor from a shared object that exports `batchcore_plugin_entry`.
/// Loaded once per engine and never unloaded while the engine lives.
final class NativePlugin: Processor, @unchecked Sendable {  // @unchecked: constants only; the descriptor and handle are read-only C memory
    let info: ProcessorInfo
    private let descriptor: UnsafePointer<bc_plugin>
    private let handle: UnsafeMutableRawPointer

    /// The smallest descriptor this host accepts: ABI 1 began by ending
    /// with `destroy`; members after it are read only when present.
    static let minimumDescriptorSize = MemoryLayout<bc_plugin>.offset(of: \bc_plugin.estimate)!

    /// Loads and checks a plugin file; on any problem closes it and throws an
    /// error naming the file and what to do.
    init(path: String) throws {
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            let reason = dlerror().map { String(cString: $0) } ?? "unknown reason"
            throw BatchCoreError(.plugin, "cannot load plugin '\(path)': \(reason)")
        }
        var ok = false
        defer { if !ok { dlclose(handle) } }

        guard let symbol = dlsym(handle, BC_PLUGIN_ENTRY_SYMBOL) else {
            throw BatchCoreError(.plugin, "'\(path)' is not a batchcore plugin: it does not export \(BC_PLUGIN_ENTRY_SYMBOL)()")
        }
        let entry = unsafeBitCast(symbol, to: bc_plugin_entry_fn.self)
        guard let descriptor = entry() else {
            throw BatchCoreError(.plugin, "plugin '\(path)': \(BC_PLUGIN_ENTRY_SYMBOL)() returned NULL")
        }
        let d = descriptor.pointee
        // Check the version before reading any field past it.
        guard d.abi_version == UInt32(BC_PLUGIN_ABI_VERSION) else {
            let name = d.struct_size >= 24 ? d.name.map { String(cString: $0) } ?? "?" : "?"
            throw BatchCoreError(.abi,
                "plugin '\(name)' (\(path)) was built for ABI \(d.abi_version), this host speaks ABI \(BC_PLUGIN_ABI_VERSION); rebuild it against this batchcore's include/batchcore_plugin.h")
        }
        guard Int(d.struct_size) >= Self.minimumDescriptorSize else {
            throw BatchCoreError(.abi,
                "plugin '\(path)' has a \(d.struct_size)-byte descriptor but ABI \(BC_PLUGIN_ABI_VERSION) needs at least \(Self.minimumDescriptorSize) bytes; rebuild it against this batchcore's include/batchcore_plugin.h")
        }
        guard let namePointer = d.name, d.process != nil, d.create != nil else {
            throw BatchCoreError(.plugin, "plugin '\(path)' is incomplete: its descriptor needs a name, create() and process()")
        }
        let options: [StageOption]? = d.options.map { list in
            var result: [StageOption] = []
            var item = list
            while let name = item.pointee.name {
                result.append(StageOption(
                    name: String(cString: name),
                    defaultValue: item.pointee.default_value.map { String(cString: $0) },
                    help: item.pointee.help.map { String(cString: $0) } ?? ""))
                item += 1
            }
            return result
        }
        self.info = ProcessorInfo(
            name: String(cString: namePointer),
            version: d.version.map { String(cString: $0) } ?? "",
            description: d.description.map { String(cString: $0) } ?? "",
            kind: .plugin,
            path: path,
            options: options,
            prefersProcess: d.flags & BC_PLUGIN_FLAG_PREFERS_PROCESS != 0)
        self.descriptor = descriptor
        self.handle = handle
        ok = true
    }

    func start(config: StageConfig) throws -> ProcessorInstance {
        try prepare(config: config)
        var state: UnsafeMutableRawPointer? = nil
        var errbuf = [CChar](repeating: 0, count: 1024)
        let rc = descriptor.pointee.create(HostAPI.table, Self.opaque(config), &state, &errbuf, errbuf.count)
        guard rc == 0 else { throw refusal("create", rc, errbuf, config) }
        return NativeInstance(plugin: self, state: state, config: config)
    }

    /// Runs the plugin's prepare(), if it has one, unless it already ran for
    /// this stage (in the engine, for a worker process).
    func prepare(config: StageConfig) throws {
        guard !config.shared.prepared else { return }
        config.shared.prepared = true
        let size = Int(descriptor.pointee.struct_size)
        guard size >= MemoryLayout<bc_plugin>.offset(of: \bc_plugin.prepare)! + MemoryLayout<UnsafeRawPointer>.size,
              let prepare = descriptor.pointee.prepare else { return }
        var errbuf = [CChar](repeating: 0, count: 1024)
        let rc = prepare(HostAPI.table, Self.opaque(config), &errbuf, errbuf.count)
        guard rc == 0 else { throw refusal("prepare", rc, errbuf, config) }
    }

    private static func opaque(_ config: StageConfig) -> OpaquePointer {
        OpaquePointer(Unmanaged.passUnretained(config).toOpaque())
    }

    private func refusal(_ function: String, _ rc: Int32, _ errbuf: [CChar], _ config: StageConfig) -> BatchCoreError {
        let text = String(decoding: errbuf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let message = text.isEmpty ? "\(function)() returned \(rc) without a message" : text
        return BatchCoreError(.plugin, "stage '\(config.label)': plugin '\(info.name)' refused to start: \(message)")
    }

    fileprivate func process(_ state: UnsafeMutableRawPointer?, _ call: CallContext, _ doc: DocumentInput) -> Outcome {
        let raw = call.withProcessHandle { handle in withCDocument(doc) { descriptor.pointee.process(state, handle, $0) } }
        return outcomeFromC(raw, call, processor: info.name)
    }

    fileprivate func estimate(_ state: UnsafeMutableRawPointer?, _ doc: DocumentInput) -> TokenEstimate? {
        let size = Int(descriptor.pointee.struct_size)
        guard size >= Self.minimumDescriptorSize + MemoryLayout<UnsafeRawPointer>.size,
              let estimate = descriptor.pointee.estimate else { return nil }
        var input: UInt64 = 0
        var output: UInt64 = 0
        let rc = withCDocument(doc) { estimate(state, $0, &input, &output) }
        return rc == 0 ? TokenEstimate(input: input, output: output) : nil
    }

    fileprivate func destroy(_ state: UnsafeMutableRawPointer?) {
        descriptor.pointee.destroy?(state)
    }
}

private final class NativeInstance: ProcessorInstance, @unchecked Sendable {  // @unchecked: constants; the plugin's state is its own to guard ([thread-safe] process)
    let plugin: NativePlugin
    let state: UnsafeMutableRawPointer?
    let config: StageConfig  // keeps config_get's strings alive

    init(plugin: NativePlugin, state: UnsafeMutableRawPointer?, config: StageConfig) {
        self.plugin = plugin
        self.state = state
        self.config = config
    }

    func process(_ call: CallContext, _ doc: DocumentInput) -> Outcome {
        plugin.process(state, call, doc)
    }

    func stop() { plugin.destroy(state) }

    func estimate(_ doc: DocumentInput) -> TokenEstimate? { plugin.estimate(state, doc) }
}
