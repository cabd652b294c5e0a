/// Failures of the MySQL client and of the dump pipeline, classified so the server can tell a user
/// "wrong credentials" from "cannot reach the node" from "the backup itself failed".
package enum MySQLError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No TCP connection (refused, no route, DNS).
    case unreachable(String)
    /// No answer within the bound.
    case timedOut(String)
    /// The server refused the user name or password (error 1045 and friends).
    case authenticationFailed(String)
    /// An `ERR` packet answering a statement: server code, SQL state, message.
    case server(code: Int, sqlState: String, message: String)
    /// Bytes that do not follow the protocol, or an unsupported feature (e.g. an auth plugin).
    case protocolViolation(String)
    /// The socket closed or a previous failure left the connection unusable.
    case connectionClosed
    /// A dump or the consistent-cut coordination failed.
    case dumpFailed(String)

    package var description: String {
        switch self {
        case .unreachable(let detail): "unreachable: \(detail)"
        case .timedOut(let detail): "timed out: \(detail)"
        case .authenticationFailed(let detail): "authentication failed: \(detail)"
        case .server(let code, let state, let message): "server error \(code) (\(state)): \(message)"
        case .protocolViolation(let detail): "protocol violation: \(detail)"
        case .connectionClosed: "connection closed"
        case .dumpFailed(let detail): "dump failed: \(detail)"
        }
    }
}
