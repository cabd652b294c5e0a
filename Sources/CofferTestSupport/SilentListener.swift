import CofferRedis

/// A loopback TCP listener that completes handshakes and never sends a byte.
///
/// Stands in for a hung or wrong server in time-out tests: the client's connect succeeds (the kernel
/// accepts into the backlog) and its first request then waits for a reply that never comes.
package final class SilentListener: Sendable {
    /// The port it listens on.
    package let port: Int
    private let socket: SocketBox

    /// Starts listening on a free loopback port.
    ///
    /// - Throws: ``SocketError`` when the socket calls fail.
    package init() throws {
        let socket = try LoopbackSocket()
        try socket.listen(backlog: 16)
        self.port = socket.port
        self.socket = SocketBox(socket)
    }

    /// An endpoint for this listener, optionally with credentials that will never be checked.
    package func endpoint(password: String? = nil) -> RedisEndpoint {
        RedisEndpoint(host: "127.0.0.1", port: self.port, password: password)
    }
}

/// Keeps the non-copyable socket alive (and closes it) together with its listener.
private final class SocketBox: Sendable {
    private let socket: LoopbackSocket

    init(_ socket: consuming LoopbackSocket) {
        self.socket = socket
    }
}
