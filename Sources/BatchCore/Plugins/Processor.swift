/// What a processor returns for one document and stage.
public enum Outcome: Int32, Sendable {
    case done = 0
    case partial = 1
    case retry = 2
    case fail = 3
}

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

    public init(name: String, version: String, description: String, kind: Kind,
                path: String? = nil, options: [StageOption]? = nil) {
        self.name = name
        self.version = version
        self.description = description
        self.kind = kind
        self.path = path
        self.options = options
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
