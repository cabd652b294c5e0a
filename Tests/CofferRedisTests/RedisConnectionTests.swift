import CofferRedis
import CofferTestSupport
import NIOCore
import Testing

@Suite("RedisConnection against redis-server", .timeLimit(.minutes(1)))
struct RedisConnectionTests {
    @Test("PING, SET and GET")
    func pingSetGet() async throws {
        try await RedisServer.withServer { server in
            let connection = try await server.connect()
            #expect(try await connection.command("PING") == .simpleString("PONG"))
            #expect(try await connection.command("SET", "greeting", "hello") == .simpleString("OK"))
            let value = try await connection.command("GET", "greeting")
            #expect(value.string == "hello")
            await connection.close()
        }
    }

    @Test("bulk values are binary safe: CRLF, NUL, empty, missing")
    func binarySafeValues() async throws {
        try await RedisServer.withServer { server in
            let connection = try await server.connect()
            let tricky = "line1\r\nline2\r\n$3\r\n*1\r\n\0end"
            try await connection.commandExpectingSuccess("SET", "tricky", tricky)
            #expect(try await connection.command("GET", "tricky") == .bulkString(ByteBuffer(string: tricky)))

            let binary = ByteBuffer(bytes: (0...255).map { UInt8($0) })
            let set = try await connection.command(bytes: [ByteBuffer(string: "SET"), ByteBuffer(string: "binary"), binary])
            #expect(set == .simpleString("OK"))
            #expect(try await connection.command("GET", "binary") == .bulkString(binary))

            try await connection.commandExpectingSuccess("SET", "empty", "")
            #expect(try await connection.command("GET", "empty") == .bulkString(ByteBuffer()))

            let missing = try await connection.command("GET", "no-such-key")
            #expect(missing == .bulkString(nil))
            #expect(missing.isNull)
            await connection.close()
        }
    }

    @Test("integers and arrays, including null elements")
    func integersAndArrays() async throws {
        try await RedisServer.withServer { server in
            let connection = try await server.connect()
            #expect(try await connection.command("INCR", "counter") == .integer(1))
            #expect(try await connection.command("INCRBY", "counter", "41") == .integer(42))
            #expect(try await connection.command("RPUSH", "list", "a", "b", "c") == .integer(3))
            let range = try await connection.command("LRANGE", "list", "0", "-1")
            #expect(range.array?.compactMap(\.string) == ["a", "b", "c"])
            let values = try await connection.command("MGET", "counter", "missing", "list")
            #expect(values.array?.count == 3)
            #expect(values.array?[0].integer == 42)
            #expect(values.array?[1] == .bulkString(nil))
            #expect(values.array?[2].errorMessage == nil)
            #expect(try await connection.command("LRANGE", "missing", "0", "-1") == .array([]))
            await connection.close()
        }
    }

    @Test("an error reply is a value from command and a thrown error from commandExpectingSuccess")
    func errorReplies() async throws {
        try await RedisServer.withServer { server in
            let connection = try await server.connect()
            try await connection.commandExpectingSuccess("SET", "text", "abc")
            let reply = try await connection.command("INCR", "text")
            #expect(reply.errorMessage?.hasPrefix("ERR") == true)
            let error = await #expect(throws: RedisError.self) {
                try await connection.commandExpectingSuccess("NO-SUCH-COMMAND")
            }
            #expect(error?.kind == "server")
            // The connection stays usable after error replies.
            #expect(try await connection.command("PING") == .simpleString("PONG"))
            await connection.close()
        }
    }

    @Test("a pipeline of 1000 commands returns replies in order")
    func pipelining() async throws {
        try await RedisServer.withServer { server in
            let connection = try await server.connect()
            let writes = (0..<1000).map { ["SET", "key:\($0)", "value:\($0)"] }
            let replies = try await connection.pipeline(writes)
            #expect(replies.count == 1000)
            #expect(replies.allSatisfy { $0 == .simpleString("OK") })
            let reads = try await connection.pipeline((0..<1000).map { ["GET", "key:\($0)"] })
            #expect(reads.map(\.string) == (0..<1000).map { "value:\($0)" })
            let dbsize = try await connection.command("DBSIZE")
            #expect(dbsize == .integer(1000))
            await connection.close()
        }
    }

    @Test("many sequential commands, and concurrent callers sharing one connection")
    func sequentialAndConcurrent() async throws {
        try await RedisServer.withServer { server in
            let connection = try await server.connect()
            // Few enough round trips to finish under a full parallel test run on two cores (500 + 8 × 50 ran past
            // a minute there, every await queued behind hundreds of other tests' jobs).
            for index in 0..<100 {
                #expect(try await connection.command("INCR", "sequential") == .integer(Int64(index + 1)))
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<8 {
                    group.addTask {
                        for index in 0..<20 {
                            let key = "task:\(task):\(index)"
                            try await connection.commandExpectingSuccess("SET", key, key)
                            let value = try await connection.command("GET", key)
                            #expect(value.string == key)
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await connection.command("DBSIZE") == .integer(161))
            await connection.close()
        }
    }

    @Test("a 5 MB binary value round-trips")
    func largeValue() async throws {
        try await RedisServer.withServer { server in
            let connection = try await server.connect()
            // Every byte value, CR LF included, then a counter so that chunks differ.
            let pattern = (0...255).map { UInt8($0) }
            var payload = ByteBuffer()
            for chunk in 0..<(5 * 4096) {
                payload.writeBytes(pattern)
                payload.writeInteger(UInt32(chunk))
            }
            let reply = try await connection.command(bytes: [ByteBuffer(string: "SET"), ByteBuffer(string: "big"), payload])
            #expect(reply == .simpleString("OK"))
            let value = try await connection.command("GET", "big")
            #expect(value.bytes == payload)
            await connection.close()
        }
    }

    @Test("INFO is parsed into sections and typed fields")
    func info() async throws {
        try await RedisServer.withServer(extraArguments: ["--maxmemory", "64mb"]) { server in
            let connection = try await server.connect()
            try await connection.commandExpectingSuccess("SET", "a", "1")
            try await connection.commandExpectingSuccess("SET", "b", "2", "EX", "100")
            try await connection.commandExpectingSuccess("SELECT", "2")
            try await connection.commandExpectingSuccess("SET", "c", "3")
            let info = try await connection.info()
            #expect(info.redisVersion?.isEmpty == false)
            #expect((info.usedMemory ?? 0) > 0)
            #expect(info.maxMemory == 64 * 1024 * 1024)
            #expect((info.totalSystemMemory ?? 0) > 0)
            #expect(info.role == "master")
            #expect(info.dbKeyCounts == [0: .init(keys: 2, expires: 1), 2: .init(keys: 1, expires: 0)])

            let memoryOnly = try await connection.info("memory")
            #expect((memoryOnly.usedMemory ?? 0) > 0)
            #expect(memoryOnly.redisVersion == nil)
            await connection.close()
        }
    }

    @Test("close is idempotent and later commands fail with connectionClosed")
    func closeTwice() async throws {
        try await RedisServer.withServer { server in
            let connection = try await server.connect()
            await connection.close()
            await connection.close()
            #expect(await connection.isOpen == false)
            let error = await #expect(throws: RedisError.self) {
                try await connection.command("PING")
            }
            #expect(error == .connectionClosed)
        }
    }

    @Test("withConnection closes the connection afterwards")
    func withConnection() async throws {
        try await RedisServer.withServer { server in
            let connection = try await RedisConnection.withConnection(to: server.endpoint, timeout: .seconds(5), logger: testLogger) { connection in
                let reply = try await connection.command("PING")
                #expect(reply == .simpleString("PONG"))
                return connection
            }
            #expect(await connection.isOpen == false)
        }
    }
}
