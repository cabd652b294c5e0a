/// Finds TCP ports on the loopback interface that nothing listens on, for servers started by tests.
///
/// The port is bound with port 0 (so the kernel picks an unused one), read back, and released. Another
/// process could take it before the caller binds it; the kernel rarely hands out the same port twice in a
/// row, and ``RedisServer/start(password:extraArguments:)`` retries with a new port if that happens.
package enum FreePort {
    /// Returns a currently unused loopback TCP port.
    ///
    /// - Returns: A port number.
    /// - Throws: ``SocketError`` when the socket calls fail (not expected on a working machine).
    package static func next() throws -> Int {
        try LoopbackSocket().port
    }
}
