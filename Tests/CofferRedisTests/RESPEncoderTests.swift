import CofferRedis
import NIOCore
import Testing

@Suite("RESPEncoder")
struct RESPEncoderTests {
    @Test("encodes a command as an array of bulk strings")
    func encodesStrings() {
        let encoded = RESPEncoder().encode(["SET", "k", "a\r\nb", ""])
        #expect(String(buffer: encoded) == "*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n$0\r\n\r\n")
    }

    @Test("counts UTF-8 bytes, not characters")
    func countsBytes() {
        let encoded = RESPEncoder().encode(["ECHO", "é€"])
        #expect(String(buffer: encoded) == "*2\r\n$4\r\nECHO\r\n$5\r\né€\r\n")
    }

    @Test("encodes binary arguments and round-trips through the parser")
    func encodesBytes() throws {
        var buffer = ByteBuffer()
        let payload = ByteBuffer(bytes: [0, 13, 10, 255])
        RESPEncoder().encode([ByteBuffer(string: "RESTORE"), payload], into: &buffer)
        let value = try RESPParser().parse(&buffer)
        #expect(value == .array([.bulkString(ByteBuffer(string: "RESTORE")), .bulkString(payload)]))
    }
}
