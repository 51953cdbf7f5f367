import Glibc

/// A processor made of C functions described by a declaration file: the
/// library is opened, every symbol looked up and every call interface
/// prepared at load, so a declaration that cannot work is refused before any
/// batch starts, with the file and the field at fault. Loaded once per engine
/// and never unloaded while the engine lives (like native plugins).
final class DeclaredProcessor: Processor, @unchecked Sendable {
    let info: ProcessorInfo
    let declaration: Declaration
    fileprivate let initCalls: [BoundCall]
    fileprivate let process: BoundCall
    fileprivate let cleanup: BoundCall?
    private let library: UnsafeMutableRawPointer
    /// Init and cleanup calls never overlap: "not thread-safe" libraries
    /// often keep global state in their open functions. They run once per
    /// handle, so serializing them costs nothing.
    private let lifecycleLock = Monitor()

    init(path: String) throws {
        let declaration = try DeclarationParser.parse(file: path)
        let file = declaration.file
        func error(_ field: String, _ message: String) -> BatchCoreError {
            BatchCoreError(.plugin, "\(file): \(field): \(message)")
        }

        let libraryPath = Self.resolve(library: declaration.library, declaredIn: file)
        guard let library = dlopen(libraryPath, RTLD_NOW | RTLD_LOCAL) else {
            let reason = dlerror().map { String(cString: $0) } ?? "unknown reason"
            throw error("library", "cannot load '\(declaration.library)': \(reason); install the library or give its path")
        }
        var loaded = false
        defer { if !loaded { dlclose(library) } }

        func bind(_ call: CallDeclaration) throws -> BoundCall {
            func address(of symbol: String, field: String) throws -> UnsafeMutableRawPointer {
                _ = dlerror()
                guard let address = dlsym(library, symbol) else {
                    let reason = dlerror().map { String(cString: $0) } ?? "it resolves to NULL"
                    throw error(field, "'\(symbol)' is not a function of \(declaration.library) (\(reason)); check the name and the library")
                }
                return address
            }
            let types = call.args.map(\.type)
            let function: FFIFunction
            do {
                function = try FFIFunction(name: call.function, address: try address(of: call.function, field: "\(call.field).function"),
                                           returns: call.returns, parameters: types)
            } catch let failure as FFIError {
                throw error(call.field, failure.message)
            }
            var errorMessage: FFIFunction? = nil
            if case .function(let name)? = call.errorMessage {
                // const char *fn(handle), or fn(void) when there is no handle.
                let parameters = declaration.hasHandle ? [CType.named("handle")!] : []
                do {
                    errorMessage = try FFIFunction(name: name, address: try address(of: name, field: "\(call.field).error_message"),
                                                   returns: CType.named("string")!, parameters: parameters)
                } catch let failure as FFIError {
                    throw error("\(call.field).error_message", failure.message)
                }
            }
            return BoundCall(declaration: call, function: function, errorMessage: errorMessage)
        }

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

/// How an instance gets the handle for a call.
private enum HandleSource {
    /// Thread-safe and handle-less: calls run concurrently.
    case none
    /// Not thread-safe and handle-less: one call at a time.
    case serialized(Monitor)
    /// Thread-safe: one handle made at start, used by every thread.
    case shared(UnsafeMutableRawPointer)
    /// Not thread-safe: each worker thread has its own handle.
    case perThread(HandlePool)
}

/// What a call's arguments are taken from.
private struct CallInputs {
    var handle: UnsafeMutableRawPointer? = nil
    var bytes: UnsafeRawPointer? = nil
    var length = 0
    var path: UnsafePointer<CChar>? = nil
    var id: UnsafePointer<CChar>? = nil
    var buffer: UnsafeMutableRawPointer? = nil
    var capacity = 0
    var written: UnsafeMutablePointer<Int>? = nil
}

/// A call declaration bound to its functions, with its constant strings
/// kept as C strings for the processor's lifetime.
private final class BoundCall: @unchecked Sendable {
    let declaration: CallDeclaration
    let function: FFIFunction
    /// The bound error-message function, for `error_message = "fn"`.
    let errorMessage: FFIFunction?
    private let constantStrings: [Int: UnsafeMutablePointer<CChar>]

    init(declaration: CallDeclaration, function: FFIFunction, errorMessage: FFIFunction?) {
        self.declaration = declaration
        self.function = function
        self.errorMessage = errorMessage
        var strings: [Int: UnsafeMutablePointer<CChar>] = [:]
        for (index, argument) in declaration.args.enumerated() {
            if case .constant(.string(let text)) = argument.source { strings[index] = strdup(text) }
        }
        constantStrings = strings
    }

    deinit { constantStrings.values.forEach { free($0) } }

    func values(_ inputs: CallInputs) -> [CValue] {
        declaration.args.enumerated().map { index, argument in
            switch argument.source {
            case .bytes: .pointer(inputs.bytes)
            case .length: .integer(UInt64(inputs.length))
            case .path: .pointer(inputs.path.map(UnsafeRawPointer.init))
            case .id: .pointer(inputs.id.map(UnsafeRawPointer.init))
            case .handle: .pointer(inputs.handle.map(UnsafeRawPointer.init))
            case .null: .pointer(nil)
            case .constant(.integer(let value)): .signed(value)
            case .constant(.float(let value)): .floating(value)
            case .constant(.string): .pointer(UnsafeRawPointer(constantStrings[index]!))
            case .buffer: .pointer(inputs.buffer.map(UnsafeRawPointer.init))
            case .capacity: .integer(UInt64(inputs.capacity))
            case .written: .pointer(inputs.written.map(UnsafeRawPointer.init))
            }
        }
    }

    func call(values: [CValue]) -> FFIFunction.Result { function.call(values) }

    /// Whether the result is the declared error value.
    func failed(_ result: FFIFunction.Result) -> Bool {
        guard let condition = declaration.failsIf else { return false }
        let type = declaration.returns
        switch (condition, result.value) {
        case (.null, .pointer(let pointer)): return pointer == nil
        case (.negative, .integer(let bits)): return Int64(bitPattern: bits) < 0
        case (.zero, .integer(let bits)): return bits == 0
        case (.nonzero, .integer(let bits)): return bits != 0
        case (.equals(let value), .integer(let bits)): return type.normalize(UInt64(bitPattern: value)) == bits
        default: return false
        }
    }

    /// The library's own message when it has a function for it, else what
    /// was returned. Called on the failing thread right after the call, with
    /// the same handle.
    func failureMessage(_ result: FFIFunction.Result, handle: UnsafeMutableRawPointer?) -> String {
        let function = declaration.function
        let returned: String
        switch result.value {
        case .pointer: returned = "NULL"
        case .integer(let bits): returned = declaration.returns.decimal(bits)
        default: returned = "its error value"
        }
        if declaration.errorMessage == .errno {
            guard result.errno != 0 else { return "\(function)() returned \(returned) and left errno at 0" }
            return "\(function)(): \(errnoText(result.errno))"
        }
        guard let errorMessage else {
            return "\(function)() returned \(returned), its declared error value"
        }
        let arguments: [CValue] = errorMessage.parameters.isEmpty ? [] : [.pointer(handle.map(UnsafeRawPointer.init))]
        if case .pointer(let text?) = errorMessage.call(arguments).value {
            let message = String(cString: text.assumingMemoryBound(to: CChar.self))
            if !message.isEmpty { return "\(function)(): \(message)" }
        }
        return "\(function)() returned \(returned) and \(errorMessage.name)() gave no message"
    }
}

private final class DeclaredInstance: ProcessorInstance, @unchecked Sendable {
    let processor: DeclaredProcessor
    let handles: HandleSource

    private var bound: BoundCall { processor.process }
    private var declaration: Declaration { processor.declaration }

    init(processor: DeclaredProcessor, handles: HandleSource) {
        self.processor = processor
        self.handles = handles
    }

    func stop() {
        switch handles {
        case .none, .serialized: break
        case .shared(let handle): processor.destroyHandle(handle)
        case .perThread(let pool): pool.destroyAll()
        }
    }

    func process(_ call: CallContext, _ doc: DocumentInput) -> Outcome {
        let args = bound.declaration.args
        func fail(_ message: String) -> Outcome {
            call.error = message
            return .fail
        }

        // The document's bytes, read only when an argument needs them.
        var bytes: [UInt8] = []
        if args.contains(where: { $0.source == .bytes || $0.source == .length }) {
            if let input = doc.input {
                bytes = input
            } else if let path = doc.document.path {
                do {
                    bytes = try readWholeFile(path)
                } catch {
                    return fail("cannot read '\(path)': \(errnoText(error.code))")
                }
            } else {
                return fail("document '\(doc.document.id)' has neither a path nor input from a previous stage, and \(bound.declaration.function)() needs its bytes")
            }
            if let index = bound.declaration.index(of: .length), !args[index].type.holds(UInt64(bytes.count)) {
                let type = args[index].type
                return fail("the document is \(bytes.count) bytes, more than process.args[\(index)] (\(type)) can pass to \(bound.declaration.function)(): at most \(type.integerRange.max)")
            }
        }
        let path = doc.document.path
        if path == nil, let index = bound.declaration.index(of: .path) {
            return fail("document '\(doc.document.id)' has no path, which process.args[\(index)] (from = \"path\") needs")
        }

        var handle: UnsafeMutableRawPointer? = nil
        switch handles {
        case .none, .serialized: break
        case .shared(let shared): handle = shared
        case .perThread(let pool):
            do {
                handle = try pool.handleForCurrentThread()
            } catch {
                return fail("could not make a handle for this worker: \((error as? DeclaredProcessor.InitFailure)?.message ?? "\(error)")")
            }
        }

        var capacity = 0
        if case .buffer(let declared)? = args.first(where: { $0.source.tag == .buffer })?.source { capacity = declared }
        // One byte more than declared stays NUL, so reading up to a NUL never
        // runs past the buffer.
        var buffer = [UInt8](repeating: 0, count: capacity + 1)
        var written = 0

        bytes.append(0)  // lets `bytes` be declared as a string too
        let outcome: CallOutcome = bytes.withUnsafeBytes { content in
            withOptionalFileName(path) { path in
                FileNameBytes.withCString(doc.document.id) { id in
                    buffer.withUnsafeMutableBytes { buffer in
                        withUnsafeMutablePointer(to: &written) { written in
                            let inputs = CallInputs(
                                handle: handle, bytes: content.baseAddress, length: content.count - 1,
                                path: path, id: id, buffer: capacity > 0 ? buffer.baseAddress : nil,
                                capacity: capacity, written: written)
                            if case .serialized(let lock) = handles {
                                return lock.withLock { invoke(inputs, buffer: buffer, capacity: capacity) }
                            }
                            return invoke(inputs, buffer: buffer, capacity: capacity)
                        }
                    }
                }
            }
        }
        switch outcome {
        case .output(let output):
            call.setOutput(output)
            return .done
        case .failure(let message):
            return fail(message)
        }
    }

    private enum CallOutcome {
        case output([UInt8])
        case failure(String)
    }

    /// Calls the process function and turns its result into output bytes or
    /// an error message.
    private func invoke(_ inputs: CallInputs, buffer: UnsafeMutableRawBufferPointer, capacity: Int) -> CallOutcome {
        let result = bound.call(values: bound.values(inputs))
        if bound.failed(result) {
            return .failure(bound.failureMessage(result, handle: inputs.handle))
        }
        let function = bound.declaration.function
        let returns = bound.declaration.returns
        switch declaration.output {
        case .string:
            guard case .pointer(let text?) = result.value else { return .failure("\(function)() returned NULL") }
            return .output(Array(UnsafeRawBufferPointer(start: text, count: strlen(text.assumingMemoryBound(to: CChar.self)))))
        case .number(let format):
            switch (format, result.value) {
            case (.decimal, .integer(let bits)):
                return .output(Array(returns.decimal(bits).utf8))
            case (.decimal, .floating(let value)):
                let text = returns.kind == .float ? "\(Float(value))" : "\(value)"
                return .output(Array(text.utf8))
            case (.hex(let width), .integer(let bits)):
                let masked = bits & (UInt64.max >> UInt64(64 - returns.size * 8))
                let digits = String(masked, radix: 16)
                return .output(Array((String(repeating: "0", count: max(0, width - digits.count)) + digits).utf8))
            default:
                return .failure("\(function)() returned a value its output format cannot show")
            }
        case .buffer(let length):
            let count: Int
            switch length {
            case .nulTerminated:
                count = buffer.prefix(capacity).firstIndex(of: 0) ?? capacity
            case .returned:
                guard case .integer(let bits) = result.value else { return .failure("\(function)() returned no length") }
                let value = Int64(bitPattern: bits)
                guard value >= 0 && value <= Int64(capacity) else {
                    return .failure("\(function)() returned length \(returns.decimal(bits)), outside its \(capacity)-byte buffer; raise the buffer's capacity or check the declaration")
                }
                count = Int(value)
            case .written:
                let value = inputs.written?.pointee ?? 0
                guard value >= 0 && value <= capacity else {
                    return .failure("\(function)() wrote a length of \(value), outside its \(capacity)-byte buffer; raise the buffer's capacity or check the declaration")
                }
                count = value
            }
            return .output(Array(buffer.prefix(count)))
        }
    }
}
