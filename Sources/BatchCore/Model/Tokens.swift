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
