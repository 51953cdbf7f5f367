import BatchCore
import CBatchCore

/// A processor a C host registered with bc_engine_register_processor.
final class HostProcessor: Processor, ProcessorInstance, @unchecked Sendable {
    let info: ProcessorInfo
    private let callback: @convention(c) (OpaquePointer?, UnsafePointer<bc_doc>?, UnsafeMutableRawPointer?) -> Int32
    private let releaseUserData: (@convention(c) (UnsafeMutableRawPointer?) -> Void)?
    private let userData: UnsafeMutableRawPointer?
    /// Set once the engine accepted the processor: only then is user_data ours to release.
    var owned = false

    init(_ def: bc_processor_def) throws {
        guard def.struct_size >= UInt32(MemoryLayout<bc_processor_def>.size) else {
            throw invalid("bc_processor_def.struct_size is \(def.struct_size); set it to sizeof(bc_processor_def)")
        }
        guard let name = def.name, name.pointee != 0 else { throw invalid("bc_processor_def.name must be a non-empty string") }
        guard let process = def.process else { throw invalid("bc_processor_def.process must not be NULL") }
        info = ProcessorInfo(
            name: String(cString: name), version: "",
            description: def.description.map { String(cString: $0) } ?? "",
            kind: .host)
        callback = process
        releaseUserData = def.release
        userData = def.user_data
    }

    deinit { if owned { releaseUserData?(userData) } }

    func start(config: StageConfig) throws -> ProcessorInstance { self }

    func process(_ call: CallContext, _ doc: DocumentInput) -> Outcome {
        let raw = call.withProcessHandle { handle in withCDocument(doc) { callback(handle, $0, userData) } }
        return outcomeFromC(raw, call, processor: info.name)
    }

    func stop() {}
}
