@testable import CofferRedis
import NIOCore
import Testing

/// Builds value encodings by hand from the format descriptions (redis `src/ziplist.c`, `listpack.c`,
/// `intset.c`, `zipmap.c`, `t_stream.c`; reference §4.5–§4.6) for the encodings Redis 7.0 cannot produce:
/// zipmap (9), ziplist (10, 12, 13), quicklist of ziplists (14), old lists, sets and sorted sets (1, 3),
/// stream v1 (15), and the 7.2 forms set listpack (20) and stream v3 (21).
enum PackedBuilder {
    /// A value after the key: `RDBBuilder` without its 9-byte header.
    static func value(_ build: (inout RDBBuilder) -> Void) -> ByteBuffer {
        var builder = RDBBuilder(version: 10)
        build(&builder)
        return ByteBuffer(bytes: builder.bytes.dropFirst(9))
    }

    enum Item {
        case text(String)
        case int(Int64)
    }

    /// Ziplist: zlbytes, zltail, zllen (LE), entries with previous-entry lengths, 0xFF. Integers use the
    /// smallest encoding, like `zipTryEncoding`.
    static func ziplist(_ items: [Item]) -> [UInt8] {
        var entries: [UInt8] = []
        var previous = 0
        var tail = 10
        for item in items {
            var body: [UInt8]
            switch item {
            case .text(let text):
                let bytes = Array(text.utf8)
                body = bytes.count < 64 ? [UInt8(bytes.count)] : [0x40 | UInt8(bytes.count >> 8), UInt8(bytes.count & 0xff)]
                body += bytes
            case .int(let value):
                switch value {
                case 0...12: body = [0xF1 + UInt8(value)]
                case Int64(Int8.min)...Int64(Int8.max): body = [0xFE, UInt8(bitPattern: Int8(value))]
                case Int64(Int16.min)...Int64(Int16.max): body = [0xC0] + le(UInt64(UInt16(bitPattern: Int16(value))), 2)
                case -(1 << 23)..<(1 << 23): body = [0xF0] + le(UInt64(bitPattern: value), 3)
                case Int64(Int32.min)...Int64(Int32.max): body = [0xD0] + le(UInt64(UInt32(bitPattern: Int32(value))), 4)
                default: body = [0xE0] + le(UInt64(bitPattern: value), 8)
                }
            }
            let prevlen: [UInt8] = previous < 254 ? [UInt8(previous)] : [0xFE] + le(UInt64(previous), 4)
            tail = 10 + entries.count
            entries += prevlen + body
            previous = prevlen.count + body.count
        }
        let total = 10 + entries.count + 1
        return le(UInt64(total), 4) + le(UInt64(tail), 4) + le(UInt64(items.count), 2) + entries + [0xFF]
    }

    /// Listpack: total bytes, count (LE), entries (encoding, data, back-length), 0xFF.
    static func listpack(_ items: [Item]) -> [UInt8] {
        var entries: [UInt8] = []
        for item in items {
            var body: [UInt8]
            switch item {
            case .text(let text):
                let bytes = Array(text.utf8)
                switch bytes.count {
                case ..<64: body = [0x80 | UInt8(bytes.count)]
                case ..<4096: body = [0xE0 | UInt8(bytes.count >> 8), UInt8(bytes.count & 0xff)]
                default: body = [0xF0] + le(UInt64(bytes.count), 4)
                }
                body += bytes
            case .int(let value):
                switch value {
                case 0...127: body = [UInt8(value)]
                case -4096...4095: body = [0xC0 | UInt8((UInt64(bitPattern: value) >> 8) & 0x1f), UInt8(truncatingIfNeeded: value)]
                case Int64(Int16.min)...Int64(Int16.max): body = [0xF1] + le(UInt64(bitPattern: value), 2)
                case -(1 << 23)..<(1 << 23): body = [0xF2] + le(UInt64(bitPattern: value), 3)
                case Int64(Int32.min)...Int64(Int32.max): body = [0xF3] + le(UInt64(bitPattern: value), 4)
                default: body = [0xF4] + le(UInt64(bitPattern: value), 8)
                }
            }
            // Back-length (`lpEncodeBacklen`): 7-bit groups, most significant first; all but the first carry 128.
            var groups: [UInt8] = []
            var length = body.count
            repeat {
                groups.insert(UInt8(length & 127), at: 0)
                length >>= 7
            } while length > 0
            entries += body + groups.enumerated().map { $0.offset == 0 ? $0.element : $0.element | 128 }
        }
        return le(UInt64(6 + entries.count + 1), 4) + le(UInt64(items.count), 2) + entries + [0xFF]
    }

    static func intset(width: Int, _ values: [Int64]) -> [UInt8] {
        le(UInt64(width), 4) + le(UInt64(values.count), 4) + values.flatMap { le(UInt64(bitPattern: $0), width) }
    }

    /// Zipmap: count, then (len, key, len, free, value, free bytes)…, 0xFF.
    static func zipmap(_ pairs: [(String, String)], free: Int = 2) -> [UInt8] {
        var bytes: [UInt8] = [UInt8(pairs.count)]
        for (key, value) in pairs {
            bytes += [UInt8(key.utf8.count)] + Array(key.utf8)
            bytes += [UInt8(value.utf8.count), UInt8(free)] + Array(value.utf8) + Array(repeating: 0, count: free)
        }
        return bytes + [0xFF]
    }

    static func le(_ value: UInt64, _ width: Int) -> [UInt8] {
        (0..<width).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
    }

    static func be(_ value: UInt64, _ width: Int) -> [UInt8] {
        (0..<width).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
    }

    /// A stream of `version` 1, 2 or 3 with one node (master 5-0, fields a, b) holding: 5-0 {a 1 b x}
    /// (same fields), 5-1 deleted, 6-3 {c 7} (own fields); last ID 9-9; one group "g" (last delivered 6-3,
    /// entries-read 3) whose PEL holds 5-0 (owned by "alice", delivered at 1700000000123, twice) and 5-1
    /// (a deleted entry, owned by "alice", once); a consumer "bob" without pending entries.
    static func stream(version: Int) -> ByteBuffer {
        value { b in
            b.length(1)
            b.string(be(5, 8) + be(0, 8))
            b.string(
                listpack([
                    .int(2), .int(1), .int(2), .text("a"), .text("b"), .int(0),
                    .int(2), .int(0), .int(0), .int(1), .text("x"), .int(6),  // 5-0 same fields: values 1, "x"
                    .int(3), .int(0), .int(1), .text("1"), .text("y"), .int(6),  // 5-1 deleted + same fields
                    .int(0), .int(1), .int(3), .int(1), .text("c"), .int(7), .int(7),  // 6-3 own fields
                ]))
            b.length(2)  // length
            b.length(9)
            b.length(9)  // last ID
            if version >= 2 {
                b.length(5)
                b.length(0)  // first ID
                b.length(5)
                b.length(1)  // max deleted
                b.length(3)  // entries added
            }
            b.length(1)
            b.string("g")
            b.length(6)
            b.length(3)
            if version >= 2 { b.length(3) }
            b.length(2)
            b.raw(be(5, 8) + be(0, 8) + le(1_700_000_000_123, 8))
            b.length(2)
            b.raw(be(5, 8) + be(1, 8) + le(1_700_000_000_456, 8))
            b.length(1)
            b.length(2)
            b.string("alice")
            b.raw(le(1_700_000_001_000, 8))
            if version >= 3 { b.raw(le(1_700_000_000_900, 8)) }
            b.length(2)
            b.raw(be(5, 8) + be(0, 8) + be(5, 8) + be(1, 8))
            b.string("bob")
            b.raw(le(1_700_000_002_000, 8))
            if version >= 3 { b.raw(le(0, 8)) }
            b.length(0)
        }
    }
}

@Suite("RDB value decoding of hand-built encodings", .timeLimit(.minutes(1)))
struct RDBValueDecoderTests {
    private func buffers(_ strings: [String]) -> [ByteBuffer] { strings.map { ByteBuffer(string: $0) } }

    @Test("Strings: plain, int8/16/32 and LZF with back references")
    func strings() throws {
        #expect(try RDBValueDecoder.decode(type: 0, value: PackedBuilder.value { $0.string("hello") }) == .string(ByteBuffer(string: "hello")))
        for number: Int32 in [-128, 127, -32768, 30000, -2_000_000_000, 2_147_483_647] {
            #expect(try RDBValueDecoder.decode(type: 0, value: PackedBuilder.value { $0.integerString(number) }) == .string(ByteBuffer(string: "\(number)")))
        }
        // "abcabcabcabcX": literal "abc" (control 2), back reference len 9 (7 → extra byte 0), distance 3, literal "X".
        let compressed: [UInt8] = [0x02, 0x61, 0x62, 0x63, 0xE0, 0x00, 0x02, 0x00, 0x58]
        let value = PackedBuilder.value { b in
            b.raw([0xC3])
            b.length(UInt64(compressed.count))
            b.length(13)
            b.raw(compressed)
        }
        #expect(try RDBValueDecoder.decode(type: 0, value: value) == .string(ByteBuffer(string: "abcabcabcabcX")))
        // A back reference before the start, and a wrong expanded length, are errors.
        #expect(throws: RedisError.self) { try LZF.decompress(ByteBuffer(bytes: [0x20, 0x05]), expandedLength: 3) }
        #expect(throws: RedisError.self) { try LZF.decompress(ByteBuffer(bytes: [0x01, 0x61, 0x62]), expandedLength: 3) }
    }

    @Test("Lists: linked list (1), ziplist (10), quicklist of ziplists (14), quicklist2 with a plain node (18)")
    func lists() throws {
        let items: [PackedBuilder.Item] = [.text("a"), .int(0), .int(12), .int(-100), .int(30000), .int(-5_000_000), .int(2_000_000_000), .int(1 << 40), .text(String(repeating: "z", count: 300))]
        let expected = self.buffers(["a", "0", "12", "-100", "30000", "-5000000", "2000000000", "\(1 << 40)", String(repeating: "z", count: 300)])
        #expect(try RDBValueDecoder.decode(type: 10, value: PackedBuilder.value { $0.string(PackedBuilder.ziplist(items)) }) == .list(expected))
        let quicklist = PackedBuilder.value { b in
            b.length(2)
            b.string(PackedBuilder.ziplist(Array(items[0..<4])))
            b.string(PackedBuilder.ziplist(Array(items[4...])))
        }
        #expect(try RDBValueDecoder.decode(type: 14, value: quicklist) == .list(expected))
        #expect(try RDBValueDecoder.decode(type: 1, value: PackedBuilder.value { b in b.length(2); b.string("p"); b.integerString(7) }) == .list(self.buffers(["p", "7"])))
        let quicklist2 = PackedBuilder.value { b in
            b.length(2)
            b.length(1)
            b.string(String(repeating: "P", count: 5000))
            b.length(2)
            b.string(PackedBuilder.listpack(items))
        }
        #expect(try RDBValueDecoder.decode(type: 18, value: quicklist2) == .list(self.buffers([String(repeating: "P", count: 5000)]) + expected))
    }

    @Test("Sets: hash table (2), intset of each width (11), listpack (20, Redis 7.2)")
    func sets() throws {
        #expect(try RDBValueDecoder.decode(type: 2, value: PackedBuilder.value { b in b.length(2); b.string("m"); b.string("n") }) == .set(self.buffers(["m", "n"])))
        for (width, values) in [(2, [-3, 7] as [Int64]), (4, [-70000, 70000]), (8, [Int64.min, Int64.max])] {
            let value = PackedBuilder.value { $0.string(PackedBuilder.intset(width: width, values)) }
            #expect(try RDBValueDecoder.decode(type: 11, value: value) == .set(self.buffers(values.map { "\($0)" })))
        }
        let listpack = PackedBuilder.value { $0.string(PackedBuilder.listpack([.text("red"), .int(-7), .int(100_000)])) }
        #expect(try RDBValueDecoder.decode(type: 20, value: listpack) == .set(self.buffers(["red", "-7", "100000"])))
    }

    @Test("Sorted sets: version 1 with text scores (3), ziplist (12), listpack (17), skiplist (5)")
    func sortedSets() throws {
        let old = PackedBuilder.value { b in
            b.length(3)
            b.string("a")
            b.string("1.5")  // one length byte, then the text
            b.string("b")
            b.byte(254)
            b.string("c")
            b.byte(255)
        }
        #expect(
            try RDBValueDecoder.decode(type: 3, value: old)
                == .sortedSet([.init(member: ByteBuffer(string: "a"), score: 1.5), .init(member: ByteBuffer(string: "b"), score: .infinity), .init(member: ByteBuffer(string: "c"), score: -.infinity)]))
        let pairs: [PackedBuilder.Item] = [.text("x"), .int(-2), .text("y"), .text("0.1"), .text("z"), .text("inf")]
        let expected: RDBValue = .sortedSet([
            .init(member: ByteBuffer(string: "x"), score: -2), .init(member: ByteBuffer(string: "y"), score: 0.1), .init(member: ByteBuffer(string: "z"), score: .infinity),
        ])
        #expect(try RDBValueDecoder.decode(type: 12, value: PackedBuilder.value { $0.string(PackedBuilder.ziplist(pairs)) }) == expected)
        #expect(try RDBValueDecoder.decode(type: 17, value: PackedBuilder.value { $0.string(PackedBuilder.listpack(pairs)) }) == expected)
        let skiplist = PackedBuilder.value { b in
            b.length(1)
            b.string("pi")
            b.raw(PackedBuilder.le(Double.pi.bitPattern, 8))
        }
        #expect(try RDBValueDecoder.decode(type: 5, value: skiplist) == .sortedSet([.init(member: ByteBuffer(string: "pi"), score: .pi)]))
    }

    @Test("Hashes: zipmap (9), ziplist (13), listpack (16), hash table (4)")
    func hashes() throws {
        let expected: RDBValue = .hash([.init(field: ByteBuffer(string: "f1"), value: ByteBuffer(string: "v1")), .init(field: ByteBuffer(string: "n"), value: ByteBuffer(string: "42"))])
        #expect(try RDBValueDecoder.decode(type: 9, value: PackedBuilder.value { $0.string(PackedBuilder.zipmap([("f1", "v1"), ("n", "42")])) }) == expected)
        let packed: [PackedBuilder.Item] = [.text("f1"), .text("v1"), .text("n"), .int(42)]
        #expect(try RDBValueDecoder.decode(type: 13, value: PackedBuilder.value { $0.string(PackedBuilder.ziplist(packed)) }) == expected)
        #expect(try RDBValueDecoder.decode(type: 16, value: PackedBuilder.value { $0.string(PackedBuilder.listpack(packed)) }) == expected)
        let table = PackedBuilder.value { b in
            b.length(2)
            b.string("f1")
            b.string("v1")
            b.string("n")
            b.integerString(42)
        }
        #expect(try RDBValueDecoder.decode(type: 4, value: table) == expected)
    }

    @Test("Streams v1, v2, v3: same-field and own-field entries, tombstones skipped, groups, PEL, consumers", arguments: [(15, 1), (19, 2), (21, 3)])
    func streams(type: UInt8, version: Int) throws {
        guard case .stream(let stream) = try RDBValueDecoder.decode(type: type, value: PackedBuilder.stream(version: version)) else {
            Issue.record("not a stream")
            return
        }
        typealias ID = RDBStream.ID
        #expect(stream.entries.map(\.id) == [ID(milliseconds: 5, sequence: 0), ID(milliseconds: 6, sequence: 3)])
        #expect(stream.entries.map { $0.fieldsAndValues.map { String(buffer: $0) } } == [["a", "1", "b", "x"], ["c", "7"]])
        #expect(stream.lastID == ID(milliseconds: 9, sequence: 9))
        #expect(stream.entriesAdded == (version >= 2 ? 3 : nil))
        #expect(stream.maxDeletedID == (version >= 2 ? ID(milliseconds: 5, sequence: 1) : nil))
        let group = try #require(stream.groups.first)
        #expect(String(buffer: group.name) == "g")
        #expect(group.entriesRead == (version >= 2 ? 3 : nil))
        #expect(group.pending.map(\.deliveryCount) == [2, 1])
        #expect(group.pending.first?.deliveryTime == 1_700_000_000_123)
        #expect(group.consumers.map { String(buffer: $0.name) } == ["alice", "bob"])
        #expect(group.consumers.first?.activeTime == (version >= 3 ? 1_700_000_000_900 : nil))
        #expect(group.consumers.map(\.pending.count) == [2, 0])
    }

    @Test("Unknown, module and 7.4 types are refused with an error naming the type")
    func unknownTypes() async throws {
        for type: UInt8 in [7, 24, 99] {
            let error = #expect(throws: RedisError.self) { try RDBValueDecoder.decode(type: type, value: ByteBuffer(bytes: [0])) }
            #expect("\(error.map { "\($0)" } ?? "")".contains("type \(type)"))
        }
        var writer = AOFCommandWriter(sink: { _ in })
        let error = await #expect(throws: RedisError.self) {
            try await writer.writeRecord(database: 0, key: ByteBuffer(string: "hfe"), expiry: nil, type: 24, value: ByteBuffer(bytes: [0]))
        }
        let message = error.map { "\($0)" } ?? ""
        #expect(message.contains("\"hfe\"") && message.contains("type 24") && message.contains("field expirations"), "\(message)")
    }

    @Test("Corrupt values are errors, not traps")
    func corrupt() throws {
        #expect(throws: RedisError.self) { try RDBValueDecoder.decode(type: 0, value: ByteBuffer(bytes: [0x05, 0x61])) }
        #expect(throws: RedisError.self) { try RDBValueDecoder.decode(type: 2, value: ByteBuffer(bytes: [0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])) }
        #expect(throws: RedisError.self) { try RDBValueDecoder.decode(type: 16, value: PackedBuilder.value { $0.string([1, 2, 3]) }) }
        #expect(throws: RedisError.self) { try RDBValueDecoder.decode(type: 0, value: ByteBuffer(bytes: [0x01, 0x61, 0x62])) }
        var truncated = PackedBuilder.stream(version: 2)
        truncated.moveWriterIndex(to: truncated.writerIndex - 3)
        #expect(throws: RedisError.self) { try RDBValueDecoder.decode(type: 19, value: truncated) }
    }

    @Test("Scores print so they parse back to the same double")
    func scores() {
        for value in [1.5, -2, 0.1, 1e-300, .leastNonzeroMagnitude, .pi, 1.7976931348623157e308, 123456789012345680, -0.0] {
            #expect(Double(AOFCommandWriter.score(value)) == value)
        }
        #expect(AOFCommandWriter.score(.infinity) == "inf")
        #expect(AOFCommandWriter.score(-.infinity) == "-inf")
        #expect(AOFCommandWriter.score(3) == "3")
    }
}
