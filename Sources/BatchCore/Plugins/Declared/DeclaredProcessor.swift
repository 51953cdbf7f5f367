import Glibc

/// A processor made of C functions described by a declaration file: the
/// library is opened, every symbol looked up and every call interface
/// prepared at load, so a declaration that cannot work is refused before any
/// batch starts, with the file and the field at fault. Loaded once per engine
/// and never unloaded while the engine lives (like native plugins).
final class DeclaredProcessor: Processor, @unchecked Sendable {  // unchecked: every property is a let; the dlopen handle is only kept open, not used after init
    let info: ProcessorInfo
    let declaration: Declaration
    private let initCalls: [BoundCall]
    let process: BoundCall
    private let cleanup: BoundCall?
    private let library: UnsafeMutableRawPointer
    /// Init and cleanup calls never overlap: "not thread-safe" libraries
    /// often keep global state in their open functions. They run once per
    /// handle, so serializing them costs nothing.
    private let lifecycleLock = Monitor()

    init(path: String) throws {
        let declaration = try DeclarationParser.parse(file: path)
        let libraryPath = Self.resolve(library: declaration.library, declaredIn: declaration.file)
        guard let library = dlopen(libraryPath, RTLD_NOW | RTLD_LOCAL) else {
            let reason = dlerror().map { String(cString: $0) } ?? "unknown reason"
            throw declaration.error("library", "cannot load '\(declaration.library)': \(reason); install the library or give its path")
        }
        var loaded = false
        defer { if !loaded { dlclose(library) } }

        let bind = { (call: CallDeclaration) in try Self.bind(call, of: declaration, in: library) }
        let initCalls = try declaration.initCalls.map(bind)
        let process = try bind(declaration.process)
        let cleanup = try declaration.cleanup.map(bind)

        self.declaration = declaration
        self.initCalls = initCalls
        self.process = process
        self.cleanup = cleanup
        self.library = library
        self.info = ProcessorInfo(
            name: declaration.name,
            version: declaration.version,
            description: declaration.description,
            kind: .declared,
            path: path,
            options: [])
        loaded = true
    }

    /// `call` with its functions looked up in `library` and their call
    /// interfaces prepared.
    private static func bind(_ call: CallDeclaration, of declaration: Declaration,
                             in library: UnsafeMutableRawPointer) throws -> BoundCall {
        /// `field` names the symbol (a lookup failure), `interfaceField` its types (a libffi failure).
        func function(_ name: String, field: String, interfaceField: String,
                      returns: CType, parameters: [CType]) throws -> FFIFunction {
            _ = dlerror()
            guard let address = dlsym(library, name) else {
                let reason = dlerror().map { String(cString: $0) } ?? "it resolves to NULL"
                throw declaration.error(field, "'\(name)' is not a function of \(declaration.library) (\(reason)); check the name and the library")
            }
            do {
                return try FFIFunction(name: name, address: address, returns: returns, parameters: parameters)
            } catch {
                throw declaration.error(interfaceField, error.message)
            }
        }
        let process = try function(call.function, field: "\(call.field).function", interfaceField: call.field,
                                   returns: call.returns, parameters: call.args.map(\.type))
        var errorMessage: FFIFunction? = nil
        if case .function(let name)? = call.errorMessage {
            // const char *fn(handle), or fn(void) when there is no handle.
            let field = "\(call.field).error_message"
            errorMessage = try function(name, field: field, interfaceField: field, returns: CType.named("string")!,
                                        parameters: declaration.hasHandle ? [CType.named("handle")!] : [])
        }
        return BoundCall(declaration: call, function: process, errorMessage: errorMessage)
    }

    /// A soname (no '/') is left to the dynamic loader's search; a relative
    /// path is relative to the declaration file, so a plugin directory can
    /// carry its own library.
    static func resolve(library: String, declaredIn file: String) -> String {
        guard library.utf8.contains(UInt8(ascii: "/")), !isAbsolutePath(library),
              let directory = parentPath(file) else { return library }
        return directory + "/" + library
    }

    func start(config: StageConfig) throws -> ProcessorInstance {
        let handles: HandleSource
        do {
            if !declaration.hasHandle {
                handles = declaration.threadSafe ? .none : .serialized(Monitor())
            } else if declaration.threadSafe {
                handles = .shared(try makeHandle())
            } else {
                let pool = HandlePool(create: { [unowned self] in try makeHandle() },
                                      destroy: { [unowned self] in destroyHandle($0) })
                try pool.prepareSpare()
                handles = .perThread(pool)
            }
        } catch let failure as InitFailure {
            throw BatchCoreError(.plugin, "stage '\(config.label)': declared processor '\(info.name)' (\(declaration.file)) could not start: \(failure.message)")
        }
        return DeclaredInstance(processor: self, handles: handles)
    }

    // MARK: Handles

    struct InitFailure: Error {
        let message: String
    }

    /// Runs the init calls: the first returns the handle, the others set it
    /// up. When one fails, the handle made so far is cleaned up.
    func makeHandle() throws(InitFailure) -> UnsafeMutableRawPointer {
        try lifecycleLock.withLock { Result { () throws(InitFailure) in try runInitCalls() } }.get()
    }

    private func runInitCalls() throws(InitFailure) -> UnsafeMutableRawPointer {
        var handle: UnsafeMutableRawPointer? = nil
        for bound in initCalls {
            let result = bound.call(values: bound.values(CallInputs(handle: handle)))
            if handle == nil {
                guard case .pointer(let made?) = result.value else {
                    let message = bound.declaration.errorMessage == .errno
                        ? bound.failureMessage(result, handle: nil)
                        : "\(bound.declaration.function)() returned NULL instead of a handle"
                    throw InitFailure(message: "\(bound.declaration.field): \(message)")
                }
                handle = UnsafeMutableRawPointer(mutating: made)
            } else if bound.failed(result) {
                let message = bound.failureMessage(result, handle: handle)
                runCleanup(handle!)
                throw InitFailure(message: "\(bound.declaration.field): \(message)")
            }
        }
        return handle!
    }

    func destroyHandle(_ handle: UnsafeMutableRawPointer) {
        lifecycleLock.withLock { runCleanup(handle) }
    }

    private func runCleanup(_ handle: UnsafeMutableRawPointer) {
        guard let cleanup else { return }
        _ = cleanup.call(values: cleanup.values(CallInputs(handle: handle)))
    }
}
