/// Comparison whose duration does not depend on where two secrets first differ, so that a caller
/// timing the answers cannot learn a signature or a hash byte by byte.
package enum ConstantTime {
    /// Whether two byte strings are equal. Only the length may leak (every MAC and hash compared here
    /// has a public, fixed length).
    package static func equals(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for (x, y) in zip(a, b) { diff |= x ^ y }
        return diff == 0
    }

    /// Whether two strings have the same UTF-8 bytes (hex signatures, for instance).
    package static func equals(_ a: String, _ b: String) -> Bool {
        Self.equals(a.utf8, b.utf8)
    }
}
