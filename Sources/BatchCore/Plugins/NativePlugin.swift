import CBatchCore
import Glibc

/// A processor from a shared object that exports `batchcore_plugin_entry`.
/// Loaded once per engine and never unloaded while the engine lives.
final class NativePlugin: DescriptorProcessor, @unchecked Sendable {
    // @unchecked: adds one constant, the dlopen handle.
    private let handle: UnsafeMutableRawPointer

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
        guard let pointer = entry() else {
            throw BatchCoreError(.plugin, "plugin '\(path)': \(BC_PLUGIN_ENTRY_SYMBOL)() returned NULL")
        }
        let descriptor = try PluginDescriptor(pointer, path: path)
        let info = descriptor.info(kind: .plugin, path: path)
        guard !info.name.isEmpty, descriptor.raw.process != nil, descriptor.raw.create != nil else {
            throw BatchCoreError(.plugin, "plugin '\(path)' is incomplete: its descriptor needs a name, create() and process()")
        }
        self.handle = handle
        super.init(descriptor: descriptor, info: info, userData: nil)
        ok = true
    }
}
