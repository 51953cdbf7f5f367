import Glibc

/// How an instance gets the handle for a call.
enum HandleSource {
    /// Thread-safe and handle-less: calls run concurrently.
    case none
    /// Not thread-safe and handle-less: one call at a time.
    case serialized(Monitor)
    /// Thread-safe: one handle made at start, used by every thread.
    case shared(UnsafeMutableRawPointer)
    /// Not thread-safe: each worker thread has its own handle.
    case perThread(HandlePool)
}

final class DeclaredInstance: ProcessorInstance, @unchecked Sendable {  // unchecked: immutable; the handles it hands out follow HandleSource's rules
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
        do throws(CallFailure) {
            var bytes = try documentBytes(doc)
            if doc.document.path == nil, let index = bound.declaration.index(of: .path) {
                throw CallFailure("document '\(doc.document.id)' has no path, which process.args[\(index)] (from = \"path\") needs")
            }
            bytes.append(0)  // lets `bytes` be declared as a string too
            call.setOutput(try invoke(bytes: bytes, doc: doc, handle: try handleForCall()).get())
            return .done
        } catch {
            call.error = error.message
            return .fail
        }
    }

    /// Why the call failed, for the document's error.
    private struct CallFailure: Error {
        let message: String
        init(_ message: String) { self.message = message }
    }

    /// The document's bytes, read only when an argument needs them.
    private func documentBytes(_ doc: DocumentInput) throws(CallFailure) -> [UInt8] {
        let args = bound.declaration.args
        guard args.contains(where: { $0.source == .bytes || $0.source == .length }) else { return [] }
        let bytes: [UInt8]
        if let input = doc.input {
            bytes = input
        } else if let path = doc.document.path {
            do {
                bytes = try readWholeFile(path)
            } catch {
                throw CallFailure("cannot read '\(path)': \(errnoText(error.code))")
            }
        } else {
            throw CallFailure("document '\(doc.document.id)' has neither a path nor input from a previous stage, and \(bound.declaration.function)() needs its bytes")
        }
        if let index = bound.declaration.index(of: .length), !args[index].type.holds(UInt64(bytes.count)) {
            let type = args[index].type
            throw CallFailure("the document is \(bytes.count) bytes, more than process.args[\(index)] (\(type)) can pass to \(bound.declaration.function)(): at most \(type.integerRange.max)")
        }
        return bytes
    }

    /// The handle this call uses, if the declaration has one.
    private func handleForCall() throws(CallFailure) -> UnsafeMutableRawPointer? {
        switch handles {
        case .none, .serialized: return nil
        case .shared(let shared): return shared
        case .perThread(let pool):
            do {
                return try pool.handleForCurrentThread()
            } catch {
                throw CallFailure("could not make a handle for this worker: \((error as? DeclaredProcessor.InitFailure)?.message ?? "\(error)")")
            }
        }
    }

    /// Calls the process function with the document's bytes (NUL-terminated),
    /// path and id, and the output buffer the declaration asks for.
    private func invoke(bytes: [UInt8], doc: DocumentInput, handle: UnsafeMutableRawPointer?) -> Result<[UInt8], CallFailure> {
        var capacity = 0
        if case .buffer(let declared)? = bound.declaration.args.first(where: { $0.source.tag == .buffer })?.source { capacity = declared }
        // One byte more than declared stays NUL, so reading up to a NUL never
        // runs past the buffer.
        var buffer = [UInt8](repeating: 0, count: capacity + 1)
        var written = 0
        return bytes.withUnsafeBytes { content in
            withOptionalFileName(doc.document.path) { path in
                FileNameBytes.withCString(doc.document.id) { id in
                    buffer.withUnsafeMutableBytes { buffer in
                        withUnsafeMutablePointer(to: &written) { written in
                            let inputs = CallInputs(
                                handle: handle, bytes: content.baseAddress, length: content.count - 1,
                                path: path, id: id, buffer: capacity > 0 ? buffer.baseAddress : nil,
                                capacity: capacity, written: written)
                            if case .serialized(let lock) = handles {
                                return lock.withLock { callProcess(inputs, buffer: buffer, capacity: capacity) }
                            }
                            return callProcess(inputs, buffer: buffer, capacity: capacity)
                        }
                    }
                }
            }
        }
    }

    /// Calls the process function and turns its result into output bytes or
    /// an error message.
    private func callProcess(_ inputs: CallInputs, buffer: UnsafeMutableRawBufferPointer, capacity: Int) -> Result<[UInt8], CallFailure> {
        let result = bound.call(values: bound.values(inputs))
        if bound.failed(result) {
            return .failure(CallFailure(bound.failureMessage(result, handle: inputs.handle)))
        }
        let function = bound.declaration.function
        switch declaration.output {
        case .string:
            guard case .pointer(let text?) = result.value else { return .failure(CallFailure("\(function)() returned NULL")) }
            return .success(Array(UnsafeRawBufferPointer(start: text, count: strlen(text.assumingMemoryBound(to: CChar.self)))))
        case .number(let format):
            guard let text = number(result.value, format: format) else {
                return .failure(CallFailure("\(function)() returned a value its output format cannot show"))
            }
            return .success(Array(text.utf8))
        case .buffer(let length):
            return bufferLength(length, result: result, inputs: inputs, capacity: capacity)
                .map { Array(buffer.prefix($0)) }
        }
    }

    /// A returned number as the output format shows it.
    private func number(_ value: CValue, format: OutputDeclaration.NumberFormat) -> String? {
        let returns = bound.declaration.returns
        switch (format, value) {
        case (.decimal, .integer(let bits)):
            return returns.decimal(bits)
        case (.decimal, .floating(let value)):
            return returns.kind == .float ? "\(Float(value))" : "\(value)"
        case (.hex(let width), .integer(let bits)):
            let masked = bits & (UInt64.max >> UInt64(64 - returns.size * 8))
            let digits = String(masked, radix: 16)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        default:
            return nil
        }
    }

    /// How many bytes of the output buffer are the output.
    private func bufferLength(_ length: OutputDeclaration.BufferLength, result: FFIFunction.Result,
                              inputs: CallInputs, capacity: Int) -> Result<Int, CallFailure> {
        let function = bound.declaration.function
        switch length {
        case .nulTerminated:
            let buffer = UnsafeRawBufferPointer(start: inputs.buffer, count: capacity)
            return .success(buffer.firstIndex(of: 0) ?? capacity)
        case .returned:
            guard case .integer(let bits) = result.value else { return .failure(CallFailure("\(function)() returned no length")) }
            let value = Int64(bitPattern: bits)
            guard value >= 0 && value <= Int64(capacity) else {
                return .failure(CallFailure("\(function)() returned length \(bound.declaration.returns.decimal(bits)), outside its \(capacity)-byte buffer; raise the buffer's capacity or check the declaration"))
            }
            return .success(Int(value))
        case .written:
            let value = inputs.written?.pointee ?? 0
            guard value >= 0 && value <= capacity else {
                return .failure(CallFailure("\(function)() wrote a length of \(value), outside its \(capacity)-byte buffer; raise the buffer's capacity or check the declaration"))
            }
            return .success(value)
        }
    }
}
