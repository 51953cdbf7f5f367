/// Describes a processor for listings and help.
public struct ProcessorInfo: Sendable, Equatable {
    public enum Kind: String, Sendable { case builtin, plugin, host, declared }
    public var name: String
    public var version: String
    public var description: String
    public var kind: Kind
    /// The plugin or declaration file.
    public var path: String?
    /// Declared options (name, default, help); nil accepts any key.
    public var options: [StageOption]?
    /// The plugin reads hostile input (BC_PLUGIN_FLAG_PREFERS_PROCESS): with
    /// isolation=auto it runs in worker processes.
    public var prefersProcess: Bool
    /// Its calls never block a thread (BC_PLUGIN_FLAG_NONBLOCKING).
    public var nonBlocking: Bool

    public init(name: String, version: String, description: String, kind: Kind,
                path: String? = nil, options: [StageOption]? = nil, prefersProcess: Bool = false,
                nonBlocking: Bool = false) {
        self.name = name
        self.version = version
        self.description = description
        self.kind = kind
        self.path = path
        self.options = options
        self.prefersProcess = prefersProcess
        self.nonBlocking = nonBlocking
    }
}

public struct StageOption: Sendable, Equatable {
    public var name: String
    public var defaultValue: String?
    public var help: String
    public init(name: String, defaultValue: String?, help: String) {
        self.name = name
        self.defaultValue = defaultValue
        self.help = help
    }
}

/// A kind of processor: a loaded plugin, the built-in exec, or one a host
/// registered. `start` runs once per batch stage, on one thread.
public protocol Processor: AnyObject, Sendable {
    var info: ProcessorInfo { get }
    func start(config: StageConfig) throws -> ProcessorInstance
}

/// A processor started for one stage of one batch.
public protocol ProcessorInstance: AnyObject, Sendable {
    /// [thread-safe] Processes one document; reports output through `call`.
    func process(_ call: CallContext, _ doc: DocumentInput) -> Outcome
    /// Once, after the last `process`.
    func stop()
    /// [thread-safe] Tokens the next `process` of `doc` will likely use;
    /// nil lets the engine estimate from the input's size.
    func estimate(_ doc: DocumentInput) -> TokenEstimate?
    /// True when `process` itself stops at `call.deadline` (it kills a child
    /// process, say), calls `call.markOverran()` and returns `.retry`.
    /// Otherwise the engine abandons a call that overruns its deadline.
    var enforcesDeadline: Bool { get }
}

extension ProcessorInstance {
    public func estimate(_ doc: DocumentInput) -> TokenEstimate? { nil }
    public var enforcesDeadline: Bool { false }
}

/// A document as one stage sees it.
public struct DocumentInput {
    public let document: Document
    public let stage: Int
    public let attempt: Int
    /// The previous stage's output; nil in the first stage.
    public let input: [UInt8]?

    public init(document: Document, stage: Int, attempt: Int, input: [UInt8]?) {
        self.document = document
        self.stage = stage
        self.attempt = attempt
        self.input = input
    }
}
