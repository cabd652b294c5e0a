import CofferCore
import CofferMySQL
import Testing

/// `mysql_native_password` against vectors computed outside Swift (Python's hashlib:
/// `SHA1(pw) XOR SHA1(salt + SHA1(SHA1(pw)))`), so a wrong SHA-1 or a wrong mix fails here and not only
/// as "Access denied" from a live server.
@Suite("mysql_native_password scramble")
struct NativePasswordTests {
    /// The 20-byte salt `!"#$%&'()*+,-./01234` (0x21…0x34), printable as a server's scramble is.
    static let salt: [UInt8] = Array(UInt8(0x21)...UInt8(0x34))

    @Test("Known vector from hashlib")
    func knownVector() {
        let response = MySQLWire.nativePasswordResponse(password: "coffer-Passw0rd!", scramble: Self.salt)
        #expect(Hex.encode(response) == "9a2ff112d2b29b281ab58bee678458107c3ea862")
    }

    @Test("Only the first 20 bytes of the scramble count (the server appends a NUL)")
    func trailingNulIgnored() {
        let response = MySQLWire.nativePasswordResponse(password: "coffer-Passw0rd!", scramble: Self.salt + [0])
        #expect(Hex.encode(response) == "9a2ff112d2b29b281ab58bee678458107c3ea862")
    }

    @Test("An empty password sends an empty response")
    func emptyPassword() {
        #expect(MySQLWire.nativePasswordResponse(password: "", scramble: Self.salt).isEmpty)
    }
}
