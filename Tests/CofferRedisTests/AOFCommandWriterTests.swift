import CofferRedis
import CofferTestSupport
import Foundation
import NIOCore
import Testing

/// Collects what the writer hands its sink, and how many chunks it came in.
private actor ByteCollector {
    private(set) var bytes: [UInt8] = []
    private(set) var chunks = 0

    func append(_ buffer: ByteBuffer) {
        self.bytes += buffer.readableBytesView
        self.chunks += 1
    }
}

/// Every key of a real `redis-server` — every type and every encoding Redis 7.0 writes — taken with `DUMP`
/// (type byte + value + 10-byte trailer), turned into an AOF, checked by `redis-check-aof`, loaded into
/// fresh servers both as the base file of an AOF and through `redis-cli --pipe`, and compared key by key.
@Suite("AOF files rebuilt from redis-server DUMP payloads", .timeLimit(.minutes(3)))
struct AOFCommandWriterTests {
    /// Small listpack limits so one server holds both the compact and the large encoding of each type.
    static let sourceArguments = [
        "--list-max-listpack-size", "4", "--set-max-intset-entries", "16", "--hash-max-listpack-entries", "8",
        "--zset-max-listpack-entries", "8", "--rdbcompression", "yes", "--enable-debug-command", "local",
    ]

    /// Keys in database 5 that force each encoding, with the encoding `OBJECT ENCODING` must report.
    static func encodingKeys() -> (commands: [[String]], encodings: [String: String]) {
        var commands: [[String]] = [["SELECT", "5"], ["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "1000"]]
        let random = String((0..<1_000_000).map { _ in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".randomElement() ?? "a" })
        commands += [
            ["SET", "x:str:int8", "-100"], ["SET", "x:str:int16", "30000"], ["SET", "x:str:int32", "-2000000000"],
            ["SET", "x:str:int64", "9223372036854775807"], ["SET", "x:str:leading-zero", "007"], ["SET", "x:str:short", "hi\r\nthere"],
            ["SET", "x:str:lzf", String(repeating: "coffer-", count: 100)],
            ["SET", "x:str:big-lzf", String(repeating: "twelve megabytes of very compressible text. ", count: 12 * 1024 * 1024 / 44)],
            ["SET", "x:str:big-random", random], ["SET", "x:str:empty", ""],
            ["RPUSH", "x:list:small", "a", "1", "-70000"],
            ["RPUSH", "x:list:big"] + (0..<2000).map { "element-\($0)" },
            ["RPUSH", "x:list:plain", String(repeating: "P", count: 5000), "a", "b", String(repeating: "Q", count: 3000)],
            ["SADD", "x:set:intset", "1", "-2", "300000"], ["SADD", "x:set:int64", "-9223372036854775808", "9223372036854775807", "5"],
            ["SADD", "x:set:table"] + (0..<40).map { "\($0 * 11)" }, ["SADD", "x:set:strings", "red", "green"],
            ["ZADD", "x:zset:small", "1.5", "a", "-2", "b", "inf", "c", "-inf", "d", "0.1", "e"],
            ["ZADD", "x:zset:big"] + (0..<300).flatMap { ["\(Double($0) * 0.1 + 1e-7)", "m\($0)"] } + ["1e-300", "tiny", "3.141592653589793", "pi", "+inf", "top"],
            ["HSET", "x:hash:small", "f", "v", "n", "42", "neg", "-7", "empty", ""],
            ["HSET", "x:hash:big"] + (0..<50).flatMap { ["field\($0)", String(repeating: "v", count: $0)] },
            ["EXPIRE", "x:zset:big", "7200"], ["PEXPIRE", "x:list:big", "99999999"],
        ]
        let encodings = [
            "x:str:int8": "int", "x:str:int64": "int", "x:str:leading-zero": "embstr", "x:str:lzf": "raw", "x:str:big-lzf": "raw",
            "x:list:small": "quicklist", "x:list:plain": "quicklist", "x:set:intset": "intset", "x:set:int64": "intset",
            "x:set:table": "hashtable", "x:zset:small": "listpack", "x:zset:big": "skiplist", "x:hash:small": "listpack",
            "x:hash:big": "hashtable",
        ]
        return (commands, encodings)
    }

    private static let library = "#!lua name=cofferlib\nredis.register_function('echo1', function(keys, args) return args[1] end)"

    /// What must match after loading: every key's type and value (seen-time of stream consumers aside: no
    /// command sets it), exact absolute expiry times, and the function libraries with their code.
    struct State: Equatable {
        var keys: [Int: [String: RedisDataset.KeyState]]
        var expiries: [Int: [String: Int64]]
        var functions: [String]
    }

    static func state(_ connection: RedisConnection) async throws -> State {
        var keys = try await RedisDataset.snapshot(connection)
        var expiries: [Int: [String: Int64]] = [:]
        for (database, entries) in keys {
            _ = try await connection.commandExpectingSuccess(["SELECT", "\(database)"])
            for (name, state) in entries {
                expiries[database, default: [:]][name] = try await connection.commandExpectingSuccess(["PEXPIRETIME", name]).integer
                var normalized = state
                normalized.pttl = state.pttl < 0 ? state.pttl : 0
                if state.type == "stream" {
                    var value: [String] = []
                    var skipNext = false
                    for item in state.value {
                        if skipNext {
                            skipNext = false
                        } else if item == "seen-time" {
                            skipNext = true
                        } else {
                            value.append(item)
                        }
                    }
                    normalized.value = value
                }
                keys[database]?[name] = normalized
            }
        }
        _ = try await connection.commandExpectingSuccess(["SELECT", "0"])
        let functions = try await connection.commandExpectingSuccess(["FUNCTION", "LIST", "WITHCODE"])
        return State(keys: keys, expiries: expiries, functions: Self.flatten(functions))
    }

    private static func flatten(_ value: RESPValue) -> [String] {
        switch value {
        case .array(let items?): items.flatMap(Self.flatten)
        case .integer(let n): [String(n)]
        case .bulkString(let bytes?): [String(buffer: bytes)]
        case .simpleString(let text): [text]
        default: ["<nil>"]
        }
    }

    @Test("Every type and encoding survives DUMP → AOF → redis-check-aof → load, as AOF base and via --pipe")
    func roundTrip() async throws {
        try await RedisServer.withServer(extraArguments: Self.sourceArguments) { source in
            let connection = try await source.connect(timeout: .seconds(30), logger: testLogger)
            try await RedisDataset.populate(connection, scale: 12)
            let (commands, encodings) = Self.encodingKeys()
            for reply in try await connection.pipeline(commands) { #expect(reply.errorMessage == nil, "\(reply)") }
            _ = try await connection.commandExpectingSuccess(["FUNCTION", "LOAD", Self.library])
            for (key, encoding) in encodings {
                #expect(try await connection.commandExpectingSuccess(["OBJECT", "ENCODING", key]).string == encoding, "\(key)")
            }

            // DUMP every key and write the AOF, in small chunks to exercise the sink.
            let collector = ByteCollector()
            var writer = AOFCommandWriter(flushThreshold: 4096, sink: { await collector.append($0) })
            try await writer.writeFunction(source: ByteBuffer(string: Self.library))
            var typeBytes: Set<UInt8> = []
            var keyCount = 0
            for database in 0..<16 {
                _ = try await connection.commandExpectingSuccess(["SELECT", "\(database)"])
                let names = try await connection.commandExpectingSuccess(["KEYS", "*"]).array?.compactMap(\.string) ?? []
                for name in names.sorted() {
                    let payload = try #require(try await connection.commandExpectingSuccess(["DUMP", name]).bytes)
                    let type = try #require(payload.getInteger(at: payload.readerIndex, as: UInt8.self))
                    let value = try #require(payload.getSlice(at: payload.readerIndex + 1, length: payload.readableBytes - 11))
                    let expiry = try await connection.commandExpectingSuccess(["PEXPIRETIME", name]).integer ?? -1
                    typeBytes.insert(type)
                    if name == "x:str:lzf" || name == "x:str:big-lzf" { #expect(value.getInteger(at: value.readerIndex, as: UInt8.self) == 0xC3, "\(name) is LZF") }
                    if name == "x:list:plain" { #expect(value.getBytes(at: value.readerIndex, length: 2) == [3, 1], "\(name) starts with a plain node") }
                    try await writer.writeRecord(database: database, key: ByteBuffer(string: name), expiry: expiry >= 0 ? expiry : nil, type: type, value: value)
                    keyCount += 1
                }
            }
            try await writer.finish()
            #expect(typeBytes == [0, 2, 4, 5, 11, 16, 17, 18, 19])
            let expected = try await Self.state(connection)
            await connection.close()
            #expect(expected.keys.keys.sorted() == [0, 3, 5])

            let bytes = await collector.bytes
            #expect(await collector.chunks > 10)
            let directory = try TemporaryDirectory(prefix: "coffer-aof")
            defer { directory.remove() }
            try FileManager.default.createDirectory(at: directory.file("aof"), withIntermediateDirectories: true)
            let file = directory.file("aof").appendingPathComponent("appendonly.aof.1.base.aof")
            try Data(bytes).write(to: file)
            let check = try ProcessRunner.run("redis-check-aof", [file.path])
            #expect(check.status == 0, "\(check.output)")
            #expect(check.output.contains("AOF is valid") || check.output.contains("AOF analyzed"), "\(check.output)")

            // 1. As the base file of a server's AOF, loaded at start-up.
            try Data("file appendonly.aof.1.base.aof seq 1 type b\n".utf8).write(to: directory.file("aof").appendingPathComponent("appendonly.aof.manifest"))
            try await RedisServer.withServer(extraArguments: ["--dir", directory.path, "--appendonly", "yes", "--appenddirname", "aof"]) { target in
                let loaded = try await target.connect(timeout: .seconds(30), logger: testLogger)
                let actual = try await Self.state(loaded)
                await loaded.close()
                Self.compare(actual, expected)
            }

            // 2. Through redis-cli --pipe into a running server with default encodings.
            try await RedisServer.withServer { target in
                let pipe = try ProcessRunner.run("bash", ["-c", "redis-cli -h 127.0.0.1 -p \(target.port) --pipe < '\(file.path)'"])
                #expect(pipe.status == 0, "\(pipe.output)")
                #expect(pipe.output.contains("errors: 0"), "\(pipe.output)")
                let loaded = try await target.connect(timeout: .seconds(30), logger: testLogger)
                let actual = try await Self.state(loaded)
                await loaded.close()
                Self.compare(actual, expected)
            }
            #expect(keyCount > 100)
        }
    }

    private static func compare(_ actual: State, _ expected: State) {
        #expect(actual.functions == expected.functions)
        #expect(actual.expiries == expected.expiries)
        #expect(actual.keys.keys.sorted() == expected.keys.keys.sorted())
        for (database, keys) in expected.keys {
            #expect(actual.keys[database]?.keys.sorted() == keys.keys.sorted(), "database \(database)")
            for (name, state) in keys where actual.keys[database]?[name] != state {
                Issue.record("db \(database) key \(name): \(String(describing: actual.keys[database]?[name]).prefix(3000)) != \(String(describing: state).prefix(3000))")
            }
        }
    }

    @Test("Large collections are split into commands of at most 512 elements; SELECT only on a switch; exact bytes")
    func batching() async throws {
        let collector = ByteCollector()
        var writer = AOFCommandWriter(flushThreshold: 1 << 20, sink: { await collector.append($0) })
        try await writer.write(database: 2, key: ByteBuffer(string: "l"), expiry: 1_800_000_000_000, value: .list((0..<1300).map { ByteBuffer(string: "\($0)") }))
        try await writer.write(database: 2, key: ByteBuffer(string: "z"), expiry: nil, value: .sortedSet([.init(member: ByteBuffer(string: "m"), score: -.infinity)]))
        try await writer.write(database: 0, key: ByteBuffer(string: "s"), expiry: nil, value: .string(ByteBuffer(string: "a\r\nb")))
        try await writer.finish()
        let text = String(decoding: await collector.bytes, as: UTF8.self)
        func count(_ needle: String) -> Int { text.components(separatedBy: needle).count - 1 }
        #expect(count("*514\r\n$5\r\nRPUSH\r\n$1\r\nl\r\n") == 2)
        #expect(count("*278\r\n$5\r\nRPUSH\r\n$1\r\nl\r\n") == 1)
        #expect(count("$6\r\nSELECT\r\n") == 2)
        #expect(text.hasPrefix("*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n*514\r\n$5\r\nRPUSH\r\n$1\r\nl\r\n$1\r\n0\r\n"))
        #expect(text.contains("*3\r\n$9\r\nPEXPIREAT\r\n$1\r\nl\r\n$13\r\n1800000000000\r\n*4\r\n$4\r\nZADD\r\n$1\r\nz\r\n$4\r\n-inf\r\n$1\r\nm\r\n"))
        #expect(text.hasSuffix("*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\ns\r\n$4\r\na\r\nb\r\n"))
    }

    @Test("Hand-built 7.2 and older encodings become commands that Redis 7.0 loads")
    func olderAndNewerEncodings() async throws {
        let collector = ByteCollector()
        var writer = AOFCommandWriter(sink: { await collector.append($0) })
        let records: [(String, UInt8, ByteBuffer)] = [
            ("zipmap", 9, PackedBuilder.value { $0.string(PackedBuilder.zipmap([("f1", "v1"), ("n", "42")])) }),
            ("ziplist-list", 10, PackedBuilder.value { $0.string(PackedBuilder.ziplist([.text("a"), .int(5), .int(-300)])) }),
            ("ziplist-zset", 12, PackedBuilder.value { $0.string(PackedBuilder.ziplist([.text("m"), .text("2.5"), .text("n"), .int(-1)])) }),
            ("ziplist-hash", 13, PackedBuilder.value { $0.string(PackedBuilder.ziplist([.text("k"), .text("v")])) }),
            ("quicklist", 14, PackedBuilder.value { b in b.length(2); b.string(PackedBuilder.ziplist([.text("q1")])); b.string(PackedBuilder.ziplist([.int(2)])) }),
            ("old-zset", 3, PackedBuilder.value { b in b.length(1); b.string("o"); b.string("0.25") }),
            ("set-listpack", 20, PackedBuilder.value { $0.string(PackedBuilder.listpack([.text("s1"), .int(9)])) }),
            ("stream-v1", 15, PackedBuilder.stream(version: 1)),
            ("stream-v3", 21, PackedBuilder.stream(version: 3)),
        ]
        for (key, type, value) in records {
            try await writer.writeRecord(database: 1, key: ByteBuffer(string: key), expiry: nil, type: type, value: value)
        }
        try await writer.finish()
        let directory = try TemporaryDirectory(prefix: "coffer-aof-old")
        defer { directory.remove() }
        let file = directory.file("old.aof")
        try Data(await collector.bytes).write(to: file)
        #expect(try ProcessRunner.run("redis-check-aof", [file.path]).status == 0)
        try await RedisServer.withServer { target in
            let pipe = try ProcessRunner.run("bash", ["-c", "redis-cli -h 127.0.0.1 -p \(target.port) --pipe < '\(file.path)'"])
            #expect(pipe.status == 0 && pipe.output.contains("errors: 0"), "\(pipe.output)")
            let c = try await target.connect(timeout: .seconds(10), logger: testLogger)
            _ = try await c.commandExpectingSuccess(["SELECT", "1"])
            func strings(_ command: String...) async throws -> [String] { Self.flatten(try await c.commandExpectingSuccess(command)) }
            #expect(try await strings("HGETALL", "zipmap") == ["f1", "v1", "n", "42"])
            #expect(try await strings("LRANGE", "ziplist-list", "0", "-1") == ["a", "5", "-300"])
            #expect(try await strings("ZRANGE", "ziplist-zset", "0", "-1", "WITHSCORES") == ["n", "-1", "m", "2.5"])
            #expect(try await strings("HGETALL", "ziplist-hash") == ["k", "v"])
            #expect(try await strings("LRANGE", "quicklist", "0", "-1") == ["q1", "2"])
            #expect(try await strings("ZRANGE", "old-zset", "0", "-1", "WITHSCORES") == ["o", "0.25"])
            #expect(try await strings("SMEMBERS", "set-listpack").sorted() == ["9", "s1"])
            for key in ["stream-v1", "stream-v3"] {
                #expect(try await strings("XRANGE", key, "-", "+") == ["5-0", "a", "1", "b", "x", "6-3", "c", "7"])
                // The pending entry of the deleted 5-1 survives, with its owner, delivery time and count.
                #expect(try await strings("XPENDING", key, "g", "-", "+", "10").enumerated().filter { $0.offset % 4 != 2 }.map(\.element) == ["5-0", "alice", "2", "5-1", "alice", "1"])
                let groups = try await strings("XINFO", "GROUPS", key)
                #expect(groups.starts(with: ["name", "g", "consumers", "2", "pending", "2", "last-delivered-id", "6-3"]), "\(groups)")
                let full = try await strings("XINFO", "STREAM", key, "FULL")
                #expect(full.contains("1700000000123") && full.contains("1700000000456"), "\(full)")
                #expect(try await strings("XINFO", "CONSUMERS", key, "g").filter { $0 == "alice" || $0 == "bob" } == ["alice", "bob"])
            }
            let v3 = try await strings("XINFO", "STREAM", "stream-v3")
            func field(_ name: String) -> String? { v3.firstIndex(of: name).flatMap { $0 + 1 < v3.count ? v3[$0 + 1] : nil } }
            #expect(field("length") == "2" && field("last-generated-id") == "9-9", "\(v3)")
            #expect(field("max-deleted-entry-id") == "5-1" && field("entries-added") == "3", "\(v3)")
            await c.close()
        }
    }
}
