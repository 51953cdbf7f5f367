import BatchCore

/// Keeps secrets out of logs: values of options whose names say they are
/// secret (key, token, secret, password) and the passwords of database URLs
/// (`--sink`, `-O sink=`) are replaced, here and wherever else they appear in a line.
struct SecretScrubber: Sendable {
    static let mask = "[redacted]"
    private static let secretWords = ["key", "token", "secret", "password", "passwd", "credential", "authorization"]
    private(set) var secrets: [String] = []

    /// Learns the secrets of a command line: `--http-token X`,
    /// `--flag=X`, `KEY=X` assignments (--set, -O) whose key names a secret,
    /// and a PostgreSQL URL's password.
    init(arguments: [String]) {
        var previousIsSecretFlag = false
        for argument in arguments {
            if previousIsSecretFlag {
                secrets.append(argument)
            } else if let eq = argument.firstIndex(of: "="), Self.namesSecret(String(argument[..<eq])) {
                secrets.append(String(argument[argument.index(after: eq)...]))
            }
            previousIsSecretFlag = argument.hasPrefix("-") && !argument.contains("=") && Self.namesSecret(argument)
            secrets += SinkPasswords.passwords(in: argument)
        }
        secrets = secrets.filter { $0.count >= 4 }.sorted { $0.count > $1.count }
    }

    static func namesSecret(_ name: String) -> Bool {
        let lower = name.lowercased()
        return secretWords.contains { lower.contains($0) }
    }

    /// `text` with every known secret masked.
    func scrub(_ text: String) -> String {
        secrets.reduce(text) { text, secret in
            text.split(separator: secret, omittingEmptySubsequences: false).joined(separator: Self.mask)
        }
    }
}
