import CBatchCore

/// A processor driven by a `bc_plugin` descriptor: one a plugin file
/// exports (`NativePlugin`), or one a host program registered with its
/// user_data (`init(registered:userData:)`).
public class DescriptorProcessor: Processor, @unchecked Sendable {
    // @unchecked: constants set in init; the descriptor is a private copy, read only.
    public let info: ProcessorInfo
    private let descriptor: PluginDescriptor
    private let userData: HostUserData?

    init(descriptor: PluginDescriptor, info: ProcessorInfo, userData: HostUserData?) {
        self.descriptor = descriptor
        self.info = info
        self.userData = userData
    }

    /// A descriptor a host registered: checked and copied now (its strings
    /// and options too); create() finds `*state` set to the user data.
    public convenience init(registered pointer: UnsafePointer<bc_plugin>, userData: HostUserData) throws {
        let descriptor = try PluginDescriptor(pointer, path: nil)
        let info = descriptor.info(kind: .host, path: nil)
        guard !info.name.isEmpty, descriptor.raw.process != nil else {
            throw BatchCoreError(.invalidArgument, "the registered bc_plugin needs a name and process()")
        }
        self.init(descriptor: descriptor, info: info, userData: userData)
    }

    public func start(config: StageConfig) throws -> ProcessorInstance {
        try prepare(config: config)
        var state = userData?.pointer
        if let create = descriptor.raw.create {
            var errbuf = [CChar](repeating: 0, count: 1024)
            let rc = create(HostAPI.table, Self.opaque(config), &state, &errbuf, errbuf.count)
            guard rc == 0 else { throw refusal("create", rc, errbuf, config) }
        }
        return DescriptorInstance(processor: self, state: state, config: config)
    }

    /// Runs the descriptor's prepare(), if it has one, unless it already ran
    /// for this stage (in the engine, for a worker process).
    func prepare(config: StageConfig) throws {
        guard !config.shared.prepared else { return }
        config.shared.prepared = true
        guard let prepare = descriptor.raw.prepare else { return }
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
        let process = descriptor.raw.process!
        let raw = call.withProcessHandle { handle in withCDocument(doc) { process(state, handle, $0) } }
        return outcomeFromC(raw, call, processor: info.name)
    }

    fileprivate func estimate(_ state: UnsafeMutableRawPointer?, _ doc: DocumentInput) -> TokenEstimate? {
        guard let estimate = descriptor.raw.estimate else { return nil }
        var input: UInt64 = 0
        var output: UInt64 = 0
        let rc = withCDocument(doc) { estimate(state, $0, &input, &output) }
        return rc == 0 ? TokenEstimate(input: input, output: output) : nil
    }

    fileprivate func destroy(_ state: UnsafeMutableRawPointer?) {
        descriptor.raw.destroy?(state)
    }
}

/// The user_data a host registered with a descriptor, released once the
/// engine no longer needs it: when the processor and every instance of it
/// are gone, so after the last destroy().
public final class HostUserData: @unchecked Sendable {
    // @unchecked: the pointer is the host's to guard; `owned` is set once, before the processor is shared.
    public typealias Release = @convention(c) (UnsafeMutableRawPointer?) -> Void
    let pointer: UnsafeMutableRawPointer?
    private let release: Release?
    /// Set once the engine accepted the processor: only then is the pointer ours to release.
    public var owned = false

    public init(_ pointer: UnsafeMutableRawPointer?, release: Release?) {
        self.pointer = pointer
        self.release = release
    }

    deinit { if owned { release?(pointer) } }
}

private final class DescriptorInstance: ProcessorInstance, @unchecked Sendable {
    // @unchecked: constants; the state is the processor's own to guard (process() is [thread-safe]).
    let processor: DescriptorProcessor
    let state: UnsafeMutableRawPointer?
    let config: StageConfig  // keeps config_get's strings alive

    init(processor: DescriptorProcessor, state: UnsafeMutableRawPointer?, config: StageConfig) {
        self.processor = processor
        self.state = state
        self.config = config
    }

    func process(_ call: CallContext, _ doc: DocumentInput) -> Outcome {
        processor.process(state, call, doc)
    }

    func stop() { processor.destroy(state) }

    func estimate(_ doc: DocumentInput) -> TokenEstimate? { processor.estimate(state, doc) }
}
