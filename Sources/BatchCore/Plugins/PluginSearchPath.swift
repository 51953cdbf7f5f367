import CBatchCore
import Glibc

/// Where plugins are looked for, in order: directories given to the engine
/// (`plugin_dir`, `--plugin-dir`), `$BATCHCORE_PLUGIN_PATH` (colon-separated),
/// `./plugins`, and the directory of the binary holding the engine (where the
/// bundled plugins are built and installed; `../lib` too when that is a `bin`).
struct PluginSearchPath {
    let directories: [String]

    init(explicit: [String], environment: String? = getenv("BATCHCORE_PLUGIN_PATH").map { String(cString: $0) }) {
        var dirs = explicit
        if let environment {
            dirs += environment.split(separator: ":").map(String.init).filter { !$0.isEmpty }
        }
        dirs.append("plugins")
        dirs += Self.bundledDirectories
        // Bundled declarations (*.toml) live in a folder of their own there.
        dirs += Self.bundledDirectories.map { $0 + "/batchcore" }
        var seen = Set<String>()
        directories = dirs.filter { seen.insert($0).inserted }
    }

    /// Directories holding the bundled plugins.
    static var bundledDirectories: [String] {
        guard let image = bc_shim_image_path().map({ String(cString: $0) }) else { return [] }
        let dir = image.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let home = dir.isEmpty ? "." : dir
        if home.hasSuffix("/bin") {
            return [home, String(home.dropLast(4)) + "/lib"]
        }
        return [home]
    }

    /// File names that may hold the plugin called `name`: a shared object, or
    /// a declaration of C functions (a declared processor).
    static func fileNames(for name: String) -> [String] {
        ["\(name).so", "lib\(name).so", "libbatchcore-\(name).so", "\(name).toml"]
    }

    /// The file's path with symbolic links and `.`/`..` resolved (as it is
    /// when it cannot be resolved).
    static func resolved(_ path: String) -> String {
        guard let real = realpath(path, nil) else { return path }
        defer { free(real) }
        return String(cString: real)
    }

    /// Whether a file is a declaration rather than a shared object.
    static func isDeclaration(_ path: String) -> Bool { path.hasSuffix(".toml") }

    /// The first existing file for `name`, or nil.
    func find(_ name: String) -> String? {
        for dir in directories {
            for file in Self.fileNames(for: name) {
                let path = dir + "/" + file
                if access(path, R_OK) == 0 { return path }
            }
        }
        return nil
    }

    /// Every plugin file candidate, in search order. In the bundled
    /// directories only `libbatchcore-*.so` counts: other libraries live there.
    /// Elsewhere every `*.so` and `*.toml` is a candidate.
    func candidates() -> [String] {
        let bundled = Set(Self.bundledDirectories)
        var result: [String] = []
        for dir in directories {
            guard let handle = opendir(dir) else { continue }
            var names: [String] = []
            while let entry = readdir(handle) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
                }
                guard name.hasSuffix(".so") || (Self.isDeclaration(name) && !bundled.contains(dir)) else { continue }
                if bundled.contains(dir) && !name.hasPrefix("libbatchcore-") { continue }
                names.append(name)
            }
            closedir(handle)
            result += names.sorted().map { dir + "/" + $0 }
        }
        return result
    }
}
