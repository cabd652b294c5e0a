#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A TCP socket bound to 127.0.0.1, with the few POSIX calls the test fixtures need.
///
/// Plain POSIX rather than NIO so that this module depends on `CofferRedis` and `Logging` only, and so that
/// the fixtures do not share event loops with the code under test.
struct LoopbackSocket: ~Copyable {
    /// The socket's file descriptor.
    let descriptor: Int32
    /// The port the kernel assigned.
    let port: Int

    /// Creates a socket bound to 127.0.0.1 on a port chosen by the kernel.
    ///
    /// - Throws: ``SocketError`` when a system call fails.
    init() throws(SocketError) {
        #if canImport(Darwin)
            let descriptor = socket(AF_INET, SOCK_STREAM, 0)
        #else
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #endif
        guard descriptor >= 0 else {
            throw SocketError(call: "socket", code: errno)
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else {
            let code = errno
            close(descriptor)
            throw SocketError(call: "bind", code: code)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getsockname(descriptor, $0, &length)
            }
        }
        guard named == 0 else {
            let code = errno
            close(descriptor)
            throw SocketError(call: "getsockname", code: code)
        }
        self.descriptor = descriptor
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// Starts accepting connections into the kernel's backlog.
    ///
    /// - Parameter backlog: How many completed handshakes the kernel queues.
    /// - Throws: ``SocketError`` when `listen` fails.
    func listen(backlog: Int32) throws(SocketError) {
        #if canImport(Glibc)
            let result = Glibc.listen(self.descriptor, backlog)
        #elseif canImport(Musl)
            let result = Musl.listen(self.descriptor, backlog)
        #else
            let result = Darwin.listen(self.descriptor, backlog)
        #endif
        guard result == 0 else {
            throw SocketError(call: "listen", code: errno)
        }
    }

    deinit {
        close(self.descriptor)
    }
}
