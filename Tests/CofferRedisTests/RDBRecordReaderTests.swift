import CofferRedis
import CofferTestSupport
import Foundation
import NIOCore
import Synchronization
import Testing

@Suite("RDB record reader and RESTORE payloads", .timeLimit(.minutes(2)))
struct RDBRecordReaderTests {
    /// Reads `bytes` with the record reader in chunks of `chunkSize`; `buffered` as the restore writer reads
    /// (``RDBRecordReader/nextBuffered()`` first, counted in `fromChunk`), else through `next()` only. Small chunks
    /// send most records through the awaiting walk, whose captures then straddle chunks.
    static func records(
        _ bytes: [UInt8], chunkSize: Int, buffered: Bool = false
    ) async throws -> (items: [RDBRecordReader.Item], reader: RDBRecordReader, fromChunk: Int) {
        let chunks = Mutex(stride(from: 0, to: bytes.count, by: chunkSize).map { ByteBuffer(bytes: bytes[$0..<min($0 + chunkSize, bytes.count)]) }[...])
        var reader = RDBRecordReader(nextChunk: { chunks.withLock { $0.popFirst() } })
        var items: [RDBRecordReader.Item] = []
        var fromChunk = 0
        while true {
            if buffered, let record = try reader.nextBuffered() {
                items.append(.record(record))
                fromChunk += 1
            } else if let item = try await reader.next() {
                items.append(item)
            } else {
                break
            }
        }
        return (items, reader, fromChunk)
    }

    @Test(
        "Every record of a pulled RDB becomes the payload DUMP gives for its key, across chunk boundaries, read awaiting or from the chunk in hand",
        arguments: [7, 64 * 1024], [false, true])
    func payloadsMatchDump(chunkSize: Int, buffered: Bool) async throws {
        try await RedisServer.withServer(extraArguments: ["--repl-diskless-sync-delay", "0", "--maxmemory-policy", "allkeys-lfu"]) { server in
            let connection = try await server.connect(timeout: .seconds(10), logger: testLogger)
            let written = try await RedisDataset.populate(connection, scale: 30)
            // A key long and repetitive enough to be stored LZF-compressed, an integer-encoded key, a TTL.
            let longKey = "long-key-" + String(repeating: "abc", count: 40)
            try await connection.commandExpectingSuccess(["SET", longKey, "v"])
            try await connection.commandExpectingSuccess(["SET", "12345", "integer key"])
            try await connection.commandExpectingSuccess(["PEXPIREAT", "12345", "4102444800000"])
            let library = "#!lua name=readerlib\nredis.register_function('reader_fn', function(keys, args) return 'reader library' end)"
            _ = try await connection.commandExpectingSuccess(["FUNCTION", "LOAD", library])
            var bytes: [UInt8] = []
            let puller = try await server.connect(timeout: .seconds(10), logger: testLogger)
            let sink = Mutex<[UInt8]>([])
            _ = try await puller.pullSnapshot(sink: { buffer in sink.withLock { $0 += buffer.readableBytesView } })
            bytes = sink.withLock { $0 }

            let (items, reader, fromChunk) = try await Self.records(bytes, chunkSize: chunkSize, buffered: buffered)
            #expect(reader.result?.checksumVerified == true)
            // Read from the chunk in hand: most records when chunks are large, none when asked not to.
            #expect(buffered && chunkSize > 1024 ? fromChunk > items.count / 2 : !buffered ? fromChunk == 0 : true)
            #expect(reader.bytesRead == Int64(bytes.count))
            let version = try #require(reader.version)
            var keys = 0
            var functions: [String] = []
            var selected = -1
            for item in items {
                switch item {
                case .function(let source): functions.append(String(buffer: source))
                case .record(let record):
                    keys += 1
                    if record.database != selected {
                        try await connection.commandExpectingSuccess(["SELECT", String(record.database)])
                        selected = record.database
                    }
                    let dump = try await connection.command(bytes: [ByteBuffer(string: "DUMP"), record.key])
                    #expect(dump.bytes == DumpPayload.make(type: record.type, value: record.value, version: version), "\(record.printableKey)")
                    #expect(record.freq != nil)
                    if String(buffer: record.key) == "12345" { #expect(record.expiry == 4_102_444_800_000) }
                }
            }
            #expect(keys == written + 2)
            #expect(functions == [library])
            try await connection.commandExpectingSuccess(["SELECT", "0"])
            await connection.close()
        }
    }

    @Test("A corrupt checksum fails the reader at the end")
    func checksum() async throws {
        var bytes = Array("REDIS0010".utf8) + [0xFE, 0x00, 0x00, 0x01, UInt8(ascii: "k"), 0x01, UInt8(ascii: "v"), 0xFF]
        var crc = CRC64()
        crc.update(bytes)
        bytes += (0..<8).map { UInt8(truncatingIfNeeded: (crc.value ^ 1) >> (8 * UInt64($0))) }
        await #expect(throws: RedisError.self) { _ = try await Self.records(bytes, chunkSize: 3) }
        await #expect(throws: RedisError.self) { _ = try await Self.records(bytes, chunkSize: bytes.count, buffered: true) }
    }

    @Test("The downgrade rule: the version field is what a server checks; the target table")
    func downgrade() async throws {
        #expect(RestoreTarget(redisVersion: "6.2.14") == RestoreTarget(rdbVersion: 9, highestType: 15))
        #expect(RestoreTarget(redisVersion: "7.0.15") == RestoreTarget(rdbVersion: 10, highestType: 19))
        #expect(RestoreTarget(redisVersion: "7.2.4") == RestoreTarget(rdbVersion: 11, highestType: 21))
        #expect(RestoreTarget(redisVersion: "7.4.0") == RestoreTarget(rdbVersion: 12, highestType: 25))
        #expect(RestoreTarget(redisVersion: "8.0.2") == RestoreTarget(rdbVersion: 12, highestType: 25))
        #expect(RestoreTarget(redisVersion: "7.2.4", valkeyVersion: "8.0.1") == RestoreTarget(rdbVersion: 11, highestType: 21))
        #expect(RestoreTarget(redisVersion: nil) == RestoreTarget(rdbVersion: 9, highestType: 15))
        #expect(!RestoreTarget(redisVersion: "7.0.15").knows(type: 20))
        try await RedisServer.withServer { server in
            let connection = try await server.connect(timeout: .seconds(5), logger: testLogger)
            let value = ByteBuffer(bytes: [0x05] + Array("hello".utf8))
            for (version, accepted) in [(9, true), (10, true), (11, false)] {
                let reply = try await connection.command(bytes: [
                    ByteBuffer(string: "RESTORE"), ByteBuffer(string: "k\(version)"), ByteBuffer(string: "0"),
                    DumpPayload.make(type: 0, value: value, version: version),
                ])
                #expect((reply.errorMessage == nil) == accepted, "version \(version): \(reply)")
            }
            #expect(try await connection.command("GET", "k9").string == "hello")
            await connection.close()
        }
    }
}
