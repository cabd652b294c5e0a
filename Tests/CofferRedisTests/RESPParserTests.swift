import CofferRedis
import NIOCore
import Testing

@Suite("RESPParser")
struct RESPParserTests {
    private let parser = RESPParser()

    private func parseAll(_ text: String) throws -> [RESPValue] {
        var buffer = ByteBuffer(string: text)
        var values: [RESPValue] = []
        while let value = try self.parser.parse(&buffer) {
            values.append(value)
        }
        #expect(buffer.readableBytes == 0)
        return values
    }

    @Test("parses every RESP2 type")
    func parsesEveryType() throws {
        let values = try self.parseAll("+OK\r\n-ERR bad thing\r\n:-42\r\n$5\r\nhello\r\n$0\r\n\r\n$-1\r\n*-1\r\n*0\r\n")
        #expect(
            values == [
                .simpleString("OK"), .error("ERR bad thing"), .integer(-42), .bulkString(ByteBuffer(string: "hello")),
                .bulkString(ByteBuffer()), .bulkString(nil), .array(nil), .array([]),
            ]
        )
    }

    @Test("parses nested arrays with mixed elements")
    func parsesNestedArrays() throws {
        let values = try self.parseAll("*3\r\n:1\r\n*2\r\n$1\r\na\r\n$-1\r\n+x\r\n")
        #expect(values == [.array([.integer(1), .array([.bulkString(ByteBuffer(string: "a")), .bulkString(nil)]), .simpleString("x")])])
    }

    @Test("bulk strings are binary safe")
    func bulkStringsAreBinarySafe() throws {
        var buffer = ByteBuffer(string: "$6\r\n")
        buffer.writeBytes([0x61, 0x0D, 0x0A, 0x00, 0xFF, 0x62])
        buffer.writeString("\r\n")
        let value = try self.parser.parse(&buffer)
        #expect(value == .bulkString(ByteBuffer(bytes: [0x61, 0x0D, 0x0A, 0x00, 0xFF, 0x62])))
    }

    @Test("fed byte by byte, returns nil without consuming until each value is complete")
    func fedByteByByte() throws {
        let stream = "+PONG\r\n$12\r\nline1\r\nline2\r\n*2\r\n:7\r\n*1\r\n$-1\r\n-WRONGPASS nope\r\n"
        var buffer = ByteBuffer()
        var values: [RESPValue] = []
        for byte in stream.utf8 {
            buffer.writeInteger(byte)
            let before = buffer.readerIndex
            if let value = try self.parser.parse(&buffer) {
                values.append(value)
            } else {
                #expect(buffer.readerIndex == before)
            }
        }
        #expect(
            values == [
                .simpleString("PONG"), .bulkString(ByteBuffer(string: "line1\r\nline2")),
                .array([.integer(7), .array([.bulkString(nil)])]), .error("WRONGPASS nope"),
            ]
        )
        #expect(buffer.readableBytes == 0)
    }

    @Test("leaves the bytes after a value for another reader")
    func leavesFollowingBytes() throws {
        var buffer = ByteBuffer(string: "+OK\r\n$EOF:")
        let value = try self.parser.parse(&buffer)
        #expect(value == .simpleString("OK"))
        #expect(String(buffer: buffer) == "$EOF:")
    }

    @Test(
        "rejects bytes that cannot be RESP2",
        arguments: ["!oops\r\n", "$abc\r\n", "$-2\r\n", ":12x\r\n", "$3\r\nabcde", "+a\rb\r\n", "%1\r\n"]
    )
    func rejectsInvalidInput(_ text: String) {
        var buffer = ByteBuffer(string: text)
        #expect(throws: RedisError.self) {
            _ = try self.parser.parse(&buffer)
        }
    }

    @Test("refuses bulk strings above the configured limit before they arrive")
    func enforcesBulkLimit() {
        let parser = RESPParser(maximumBulkLength: 10)
        var buffer = ByteBuffer(string: "$11\r\n")
        #expect(throws: RedisError.self) {
            _ = try parser.parse(&buffer)
        }
    }

    @Test("refuses absurd nesting")
    func enforcesDepthLimit() {
        let parser = RESPParser(maximumDepth: 4)
        var buffer = ByteBuffer(string: String(repeating: "*1\r\n", count: 10) + ":1\r\n")
        #expect(throws: RedisError.self) {
            _ = try parser.parse(&buffer)
        }
    }
}
