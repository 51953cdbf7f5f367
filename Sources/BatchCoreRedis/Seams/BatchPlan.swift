import FoundationEssentials

/// What a distributed batch runs, as submitted: its stages and batch options.
/// Workers build their own run of it, with processors from their own plugin
/// path and environment (API keys never travel through Redis).
public struct BatchPlan: Codable, Sendable, Equatable {
    public struct Stage: Codable, Sendable, Equatable {
        public var processor: String
        public var label: String
        public var options: [String: String]

        public init(processor: String, label: String, options: [String: String]) {
            self.processor = processor
            self.label = label
            self.options = options
        }
    }

    public var stages: [Stage]
    /// Batch options as KEY=VALUE pairs, in the order they were set.
    public var options: [[String]]
    public var tenant: String
    /// How long a worker holds a job without renewing its lease (ms).
    public var leaseMilliseconds: Int64

    public init(stages: [Stage], options: [[String]], tenant: String, leaseMilliseconds: Int64) {
        self.stages = stages
        self.options = options
        self.tenant = tenant
        self.leaseMilliseconds = leaseMilliseconds
    }

    public func encoded() throws -> [UInt8] { Array(try JSONEncoder().encode(self)) }

    public static func decode(_ bytes: [UInt8]) throws -> BatchPlan {
        do {
            return try JSONDecoder().decode(BatchPlan.self, from: Data(bytes))
        } catch {
            throw RedisError(.unexpectedReply, "redis: the batch's plan cannot be read (\(error)); was it submitted by another version of batchcore?")
        }
    }
}
