/// A failure talking to Redis. `message` says what failed, where and what to do;
/// it never contains a password.
public struct RedisError: Error, Equatable, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// The URL cannot be parsed.
        case badURL
        /// No connection could be made (refused, unknown host, timeout).
        case connect
        /// The server refused the credentials, or wants some the URL lacks.
        case authentication
        /// An established connection broke and could not be restored in time.
        /// The command that was running may or may not have been executed.
        case connectionLost
        /// The server answered with an error reply.
        case server
        /// The reply did not have the shape the operation expects.
        case unexpectedReply
        /// An argument the operation cannot accept.
        case invalidArgument
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
