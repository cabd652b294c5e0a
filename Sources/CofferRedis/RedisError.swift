/// Everything that can go wrong talking to a Redis server, in cases the HTTP layer can map to messages.
///
/// The associated strings are diagnostics built from server replies and socket errors; none of them
/// ever contains the password (the `AUTH` arguments are never echoed by Redis, and this module never
/// formats them).
package enum RedisError: Error, Sendable, Equatable {
    /// The server could not be reached: connection refused, DNS failure, no route.
    case unreachable(String)
    /// Connecting, or waiting for a reply, took longer than the allowed time.
    case timedOut(String)
    /// The server rejected the credentials, or needs credentials that were not given.
    case authenticationFailed(String)
    /// The server answered a command with an error reply (`-ERR …`, `-NOPERM …`, …).
    case server(String)
    /// The bytes received are not RESP2, or not the reply shape a command must have.
    case protocolViolation(String)
    /// The connection was closed, by the server or by an earlier failure on it.
    case connectionClosed
}

extension RedisError {
    /// Classifies an error reply: credential problems become ``authenticationFailed(_:)`` so that users are
    /// told to check the password, everything else ``server(_:)``.
    ///
    /// Recognised: `WRONGPASS` (ACL, 6.0+), `NOAUTH` (command sent before authenticating), `invalid password`
    /// (before 6.0) and `AUTH <password> called without any password configured` (a password was given to a
    /// server that has none, which is a configuration mistake worth reporting as such).
    ///
    /// - Parameter message: The error reply, without the leading `-`.
    /// - Returns: The matching error.
    package static func fromErrorReply(_ message: String) -> RedisError {
        let lowercased = message.lowercased()
        let isAuthenticationFailure =
            lowercased.hasPrefix("wrongpass") || lowercased.hasPrefix("noauth")
            || lowercased.contains("invalid password")
            || lowercased.contains("called without any password configured")
            || lowercased.contains("invalid username-password pair")
        return isAuthenticationFailure ? .authenticationFailed(message) : .server(message)
    }
}

extension RedisError: CustomStringConvertible {
    /// A sentence suitable for logs and, after mapping, for users.
    package var description: String {
        switch self {
        case .unreachable(let detail):
            return "Redis server unreachable: \(detail)"
        case .timedOut(let detail):
            return "Redis operation timed out: \(detail)"
        case .authenticationFailed(let detail):
            return "Redis authentication failed: \(detail)"
        case .server(let detail):
            return "Redis server error: \(detail)"
        case .protocolViolation(let detail):
            return "Redis protocol violation: \(detail)"
        case .connectionClosed:
            return "Redis connection closed"
        }
    }
}
