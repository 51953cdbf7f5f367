/// Every failure the engine reports: a code the C API maps onto `BC_E*` and
/// a message that says what was wrong, where, and what to do.
public struct BatchCoreError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: Int32, Sendable {
        case failure = -1
        case invalidArgument = -2
        case option = -3
        case notFound = -4
        case plugin = -5
        case abi = -6
        case input = -7
        case state = -8
        case timeout = -9
        case io = -10
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// The text of the current `errno`.
func errnoText(_ err: Int32 = errno) -> String {
    String(cString: strerror(err))
}

import Glibc
