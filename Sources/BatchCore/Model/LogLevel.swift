/// How much a message matters. The values are the C API's BC_LOG_*.
public enum LogLevel: Int32, Sendable, Comparable {
    case debug = 0
    case info = 1
    case warning = 2
    case error = 3

    /// A level given through the C API; out-of-range values are clamped.
    public init(clamping raw: Int32) {
        self = LogLevel(rawValue: min(max(raw, 0), 3))!
    }

    public var name: String {
        switch self {
        case .debug: "debug"
        case .info: "info"
        case .warning: "warning"
        case .error: "error"
        }
    }

    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }
}
