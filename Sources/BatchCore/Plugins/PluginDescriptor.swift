import CBatchCore

/// A `bc_plugin` descriptor checked against this host's plugin ABI and
/// copied within its `struct_size`: members a plugin of an older minor
/// lacks read as NULL/0, and nothing past the plugin's struct is read.
struct PluginDescriptor {
    let raw: bc_plugin

    static let abiMajor = UInt32(BC_PLUGIN_ABI_MAJOR)
    static let abiMinor = UInt32(BC_PLUGIN_ABI_MINOR)
    /// ABI 1.0's descriptor ended with `destroy`; members after it are optional.
    static let minimumSize = MemoryLayout<bc_plugin>.offset(of: \bc_plugin.estimate)!
    /// `struct_size` and `abi_version`, read before anything else.
    private static let headerSize = 2 * MemoryLayout<UInt32>.size

    /// `path` is the plugin file, nil for a descriptor the host registered;
    /// both appear in the errors, which say what to do.
    init(_ pointer: UnsafePointer<bc_plugin>, path: String?) throws {
        let size = Int(UnsafeRawPointer(pointer).load(as: UInt32.self))
        var copy = bc_plugin()
        withUnsafeMutableBytes(of: &copy) { target in
            target.copyMemory(from: UnsafeRawBufferPointer(start: pointer, count: min(size, target.count)))
        }
        let built = "\(copy.abi_version).\(copy.abi_minor)"
        let host = "\(Self.abiMajor).\(Self.abiMinor)"
        let rebuild = "rebuild it against this batchcore's include/batchcore_plugin.h"
        func refuse(_ problem: String) -> BatchCoreError {
            let name = copy.name.map { String(cString: $0) } ?? "?"
            let origin = path.map { "plugin '\(name)' (\($0))" } ?? "the descriptor registered as '\(name)'"
            return BatchCoreError(.abi, "\(origin) \(problem)")
        }
        guard size >= Self.headerSize else {
            throw refuse("has a \(size)-byte descriptor, too small to say its ABI; set struct_size to sizeof(bc_plugin) and \(rebuild)")
        }
        guard copy.abi_version == Self.abiMajor else {
            throw refuse("was built for ABI \(built), this host speaks ABI \(host); \(rebuild)")
        }
        guard size >= Self.minimumSize else {
            throw refuse("has a \(size)-byte descriptor but ABI \(host) needs at least \(Self.minimumSize) bytes; set struct_size to sizeof(bc_plugin) and \(rebuild)")
        }
        guard copy.abi_minor <= Self.abiMinor else {
            throw refuse("was built for ABI \(built), newer than this host's ABI \(host); upgrade batchcore to one whose plugin ABI is \(built) or later, or \(rebuild)")
        }
        raw = copy
    }

    /// The descriptor's name, version, description, options and flags.
    func info(kind: ProcessorInfo.Kind, path: String?) -> ProcessorInfo {
        ProcessorInfo(
            name: raw.name.map { String(cString: $0) } ?? "",
            version: raw.version.map { String(cString: $0) } ?? "",
            description: raw.description.map { String(cString: $0) } ?? "",
            kind: kind,
            path: path,
            options: raw.options.map(Self.options),
            prefersProcess: kind == .plugin && raw.flags & BC_PLUGIN_FLAG_PREFERS_PROCESS != 0,
            nonBlocking: raw.flags & BC_PLUGIN_FLAG_NONBLOCKING != 0)
    }

    private static func options(_ list: UnsafePointer<bc_plugin_option>) -> [StageOption] {
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
}
