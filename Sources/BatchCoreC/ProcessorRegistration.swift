import BatchCore
import CBatchCore

/// Registers a descriptor a C host gave, with its user_data: release runs
/// only once the engine has accepted it.
func registerDescriptor(_ descriptor: UnsafePointer<bc_plugin>, on engine: Engine, userData: HostUserData) throws {
    let processor = try DescriptorProcessor(registered: descriptor, userData: userData)
    try engine.register(processor)
    userData.owned = true
}

/// bc_processor_def, the first form of registration, as the descriptor it
/// wraps: the descriptor's state is this box, and its process() calls the
/// definition's process(call, doc, user_data).
final class ProcessorDefinition {
    /// The 0.1 struct's size: any struct_size from it on is accepted.
    static let firstSize = MemoryLayout<bc_processor_def>.offset(of: \bc_processor_def.user_data)! + MemoryLayout<UnsafeMutableRawPointer?>.size

    private let def: bc_processor_def

    /// Reads `pointer` within its struct_size.
    init(_ pointer: UnsafePointer<bc_processor_def>) throws {
        let size = Int(pointer.pointee.struct_size)
        guard size >= Self.firstSize else {
            throw invalid("bc_processor_def.struct_size is \(size); set it to sizeof(bc_processor_def) (BC_PROCESSOR_DEF_INIT does)")
        }
        var copy = bc_processor_def()
        withUnsafeMutableBytes(of: &copy) { target in
            target.copyMemory(from: UnsafeRawBufferPointer(start: pointer, count: min(size, target.count)))
        }
        guard let name = copy.name, name.pointee != 0 else { throw invalid("bc_processor_def.name must be a non-empty string") }
        guard copy.process != nil else { throw invalid("bc_processor_def.process must not be NULL") }
        def = copy
    }

    func register(on engine: Engine) throws {
        var descriptor = bc_plugin()
        descriptor.struct_size = UInt32(MemoryLayout<bc_plugin>.size)
        descriptor.abi_version = UInt32(BC_PLUGIN_ABI_MAJOR)
        descriptor.abi_minor = UInt32(BC_PLUGIN_ABI_MINOR)
        descriptor.name = def.name
        descriptor.description = def.description
        descriptor.flags = def.flags & BC_PLUGIN_FLAG_NONBLOCKING  // a host processor runs in this process
        descriptor.process = { state, call, doc in
            let definition = object(state!, as: ProcessorDefinition.self).def
            return definition.process(call, doc, definition.user_data)
        }
        let box = Unmanaged.passRetained(self).toOpaque()
        let userData = HostUserData(box) { box in
            let definition = Unmanaged<ProcessorDefinition>.fromOpaque(box!).takeRetainedValue().def
            definition.release?(definition.user_data)
        }
        do {
            try registerDescriptor(&descriptor, on: engine, userData: userData)
        } catch {
            Unmanaged<ProcessorDefinition>.fromOpaque(box).release()  // refused: the host keeps its user_data
            throw error
        }
    }
}
