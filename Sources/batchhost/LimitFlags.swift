import ArgumentParser

/// The batch flags `run` and `submit` share: dedupe, rate and token limits,
/// the timeout, prices and the budget. Each sets the batch option of the
/// same name; their help is the option registry's.
struct LimitFlags: ParsableArguments {
    @Flag(help: ArgumentHelp(optionHelp("dedupe")))
    var dedupe = false

    @Option(name: .customLong("rate-limit"), help: ArgumentHelp(optionHelp("rate_limit"), valueName: "n/period"))
    var rateLimit: String?

    @Option(name: .customLong("token-limit"), help: ArgumentHelp(optionHelp("token_limit"), valueName: "n/period"))
    var tokenLimit: String?

    @Option(help: ArgumentHelp(optionHelp("timeout"), valueName: "duration"))
    var timeout: String?

    @Option(name: .customLong("price-input"), help: ArgumentHelp(optionHelp("price.input"), valueName: "usd"))
    var priceInput: String?

    @Option(name: .customLong("price-output"), help: ArgumentHelp(optionHelp("price.output"), valueName: "usd"))
    var priceOutput: String?

    @Option(help: ArgumentHelp(optionHelp("budget"), valueName: "usd"))
    var budget: String?

    /// The batch options these flags set, in order, as (key, value).
    var options: [(key: String, value: String)] {
        let flags: [(String, String?)] = [
            ("dedupe", dedupe ? "true" : nil), ("rate_limit", rateLimit), ("token_limit", tokenLimit),
            ("timeout", timeout), ("price.input", priceInput), ("price.output", priceOutput), ("budget", budget),
        ]
        return flags.compactMap { key, value in value.map { (key, $0) } }
    }
}
