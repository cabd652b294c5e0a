import CofferRedis
import CofferTestSupport
import Foundation
import NIOCore
import Synchronization
import Testing

@Suite("Restore writer into a real Redis", .timeLimit(.minutes(2)))
struct RestoreWriterTests {
    /// A snapshot of `server` as an RDB record reader.
    static func reader(of server: RedisServer) async throws -> RDBRecordReader {
        let puller = try await server.connect(timeout: .seconds(10), logger: testLogger)
        let sink = Mutex<[ByteBuffer]>([])
        _ = try await puller.pullSnapshot(sink: { buffer in sink.withLock { $0.append(buffer) } })
        await puller.close()
        let chunks = Mutex(sink.withLock { $0 }[...])
        return RDBRecordReader(nextChunk: { chunks.withLock { $0.popFirst() } })
    }

    static func write(_ server: RedisServer, into connection: RedisConnection, stringsPerCommand: Int = 128) async throws -> RestoreWriteSummary {
        var reader = try await Self.reader(of: server)
        let info = try await connection.info("server")
        let target = RestoreTarget(redisVersion: info.sections["server"]?["redis_version"])
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        return try await RestoreWriter(connection: connection, target: target, stringsPerCommand: stringsPerCommand)
            .write(from: &reader, nowMilliseconds: { now }, progress: { _ in })
    }

    @Test(
        "Strings go as MSETNX (or SET NX with a deadline), every other type as RESTORE: each key's DUMP (value and encoding) and deadline come back equal",
        arguments: [1, 128])
    func sameKeys(stringsPerCommand: Int) async throws {
        try await RedisServer.withServer(extraArguments: ["--repl-diskless-sync-delay", "0"]) { source in
            try await RedisServer.withServer { target in
                let origin = try await source.connect(timeout: .seconds(10), logger: testLogger)
                let written = try await RedisDataset.populate(origin, scale: 40)
                // Integers stored as RDB integers (8, 16, 32 bits, negative) and as text (beyond 32 bits, leading zero),
                // an LZF-compressed string with a deadline, the empty string.
                let extra: [[String]] = [
                    ["SET", "i8", "-7"], ["SET", "i16", "-30000"], ["SET", "i32", "2000000000"], ["SET", "i64", "12345678901"],
                    ["SET", "zero-led", "0123"], ["SET", "empty", ""],
                    ["SET", "lzf", String(repeating: "compressible ", count: 50), "PXAT", "4102444800000"],
                ]
                for command in extra { try await origin.commandExpectingSuccess(command) }
                // A value too large to join a group (random bytes: stored plain, not LZF).
                let large = ByteBuffer(bytes: (0..<100_000).map { _ in UInt8.random(in: 0...255) })
                #expect(try await origin.command(bytes: [ByteBuffer(string: "SET"), ByteBuffer(string: "large"), large]).errorMessage == nil)
                let destination = try await target.connect(timeout: .seconds(10), logger: testLogger)
                let summary = try await Self.write(source, into: destination, stringsPerCommand: stringsPerCommand)
                #expect(summary.keys == written + extra.count + 1)
                // Which command wrote what: plain and integer strings as MSETNX, or SET when they have a deadline or
                // when grouping is off (LZF ones as RESTORE), the rest as RESTORE.
                let stats = try await destination.info("commandstats").sections["commandstats"] ?? [:]
                let calls = { (name: String) in stats["cmdstat_" + name].flatMap { $0.split(separator: ",").first?.split(separator: "=").last }.flatMap { Int($0) } ?? 0 }
                if stringsPerCommand == 1 {
                    #expect(calls("set") > 2 * 40 * 2)  // the :int and :ttl keys at least
                    #expect(calls("msetnx") == 0)
                } else {
                    #expect(calls("set") >= 2 * 40)  // the :ttl keys
                    #expect(calls("msetnx") > 0 && calls("msetnx") < 10)
                }
                #expect(calls("restore") > 2 * 40 * 5)
                for database in ["0", "3"] {
                    try await origin.commandExpectingSuccess(["SELECT", database])
                    try await destination.commandExpectingSuccess(["SELECT", database])
                    let keys = try #require(try await origin.command("KEYS", "*").array).compactMap(\.string)
                    #expect(keys.count > 100)
                    #expect(try await destination.command("DBSIZE").integer == Int64(keys.count))
                    for key in keys {
                        let encoding = try await origin.command(["OBJECT", "ENCODING", key]).string
                        #expect(try await destination.command(["OBJECT", "ENCODING", key]).string == encoding, "\(key)")
                        if encoding == "hashtable" {
                            // A hash table's DUMP lists entries in table order, which a rebuilt table need not keep.
                            let read = try await origin.command(["TYPE", key]).string == "set" ? "SMEMBERS" : "HGETALL"
                            let entries = { (c: RedisConnection) in try #require(try await c.command([read, key]).array).compactMap(\.string).sorted() }
                            #expect(try await entries(destination) == entries(origin), "\(key)")
                        } else {
                            let want = try await origin.command(["DUMP", key]).bytes
                            #expect(try await destination.command(["DUMP", key]).bytes == want, "\(key)")
                        }
                        let deadline = try await origin.command(["PEXPIRETIME", key]).integer
                        #expect(try await destination.command(["PEXPIRETIME", key]).integer == deadline, "\(key)")
                    }
                }
                await origin.close()
                await destination.close()
            }
        }
    }

    /// Without `REPLACE` and with `NX`, a key present on the target means someone wrote past the fence.
    @Test("A key already on the target is a leaked fence, whether it goes as MSETNX, SET or RESTORE", arguments: ["string", "strings", "ttl", "hash"])
    func fenceLeak(kind: String) async throws {
        try await RedisServer.withServer(extraArguments: ["--repl-diskless-sync-delay", "0"]) { source in
            try await RedisServer.withServer { target in
                let origin = try await source.connect(timeout: .seconds(10), logger: testLogger)
                switch kind {
                case "string": try await origin.commandExpectingSuccess(["SET", "k", "from the backup"])
                case "strings": for key in ["a", "k", "z"] { try await origin.commandExpectingSuccess(["SET", key, "from the backup"]) }
                case "ttl": try await origin.commandExpectingSuccess(["SET", "k", "from the backup", "EX", "3600"])
                default: try await origin.commandExpectingSuccess(["HSET", "k", "f", "v"])
                }
                let destination = try await target.connect(timeout: .seconds(10), logger: testLogger)
                try await destination.commandExpectingSuccess(["SET", "k", "written meanwhile"])
                let what = kind == "strings" ? "one of 3 string keys from key" : "key \"k\" (type \(kind == "hash" ? 16 : 0))"
                await #expect {
                    _ = try await Self.write(source, into: destination)
                } throws: { error in
                    guard case .fenceLeaked(let named) = error as? RestoreWriteError else { return false }
                    return named.hasPrefix(what)
                }
                // MSETNX sets none of its keys when one exists.
                #expect(try await destination.command("DBSIZE").integer == 1)
                #expect(try await destination.command("GET", "k").string == "written meanwhile")
                await origin.close()
                await destination.close()
            }
        }
    }
}
