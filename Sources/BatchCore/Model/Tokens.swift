/// Tokens a call is expected to use, before it runs.
public struct TokenEstimate: Sendable, Equatable {
    public var input: UInt64
    public var output: UInt64
    public init(input: UInt64, output: UInt64) {
        self.input = input
        self.output = output
    }
    public var total: UInt64 { input &+ output }
}

/// Tokens spent, e.g. by a stage's prepare().
public struct TokenUsage: Sendable, Equatable {
    public var input: UInt64 = 0
    public var output: UInt64 = 0

    public init(input: UInt64 = 0, output: UInt64 = 0) {
        self.input = input
        self.output = output
    }

    /// Saturating, as every usage count.
    func adding(input more: UInt64, output moreOut: UInt64) -> TokenUsage {
        TokenUsage(input: Count.sum(input, more), output: Count.sum(output, moreOut))
    }
}

/// Prices in US dollars per million tokens.
public struct TokenPrices: Sendable, Equatable {
    public var input: Double
    public var output: Double
    public init(input: Double, output: Double) {
        self.input = input
        self.output = output
    }

    public func cost(input tokens: UInt64, output outTokens: UInt64) -> Double {
        (Double(tokens) * input + Double(outTokens) * output) / 1_000_000
    }
}
