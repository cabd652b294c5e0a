#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A failed POSIX socket call in a test fixture.
package struct SocketError: Error, CustomStringConvertible {
    /// The system call that failed.
    package let call: String
    /// Its `errno`.
    package let code: Int32

    /// `bind failed: Address already in use (errno 98)`.
    package var description: String {
        "\(self.call) failed: \(String(cString: strerror(self.code))) (errno \(self.code))"
    }
}
