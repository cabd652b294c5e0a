import CofferRedis
import Testing

/// Records built by hand, for what the installed `redis-server` (7.0) cannot write: module values and
/// module aux data, encodings of older servers (5.0–6.2) and newer ones (7.2 listpack sets, stream
/// consumers with active times, 7.4 hashes with field TTLs), the 7.0 RC function record, and lengths in
/// their wide forms. Each file is scanned whole and one byte at a time (records straddling chunks).
@Suite("RDB scanner on hand-built files")
struct RDBScannerTests {
    /// Scans `bytes` in one chunk and in one-byte chunks; both must agree.
    private func scan(_ bytes: [UInt8]) async throws -> RDBScanResult {
        let whole = try await RDBScanner.scan(bytes)
        let bytewise = try await RDBScanner.scan(bytes, chunkSize: 1)
        #expect(whole == bytewise)
        return whole
    }

    /// `bytes` must fail the scan with a protocol violation whose message contains `fragment`.
    private func expectViolation(_ bytes: [UInt8], _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) async {
        do {
            let result = try await RDBScanner.scan(bytes)
            Issue.record("scanned without error: \(result)", sourceLocation: sourceLocation)
        } catch let RedisError.protocolViolation(message) {
            #expect(message.contains(fragment), "\(message)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test("Module values and module aux data: every item kind, IDs and integers above 2^63")
    func modules() async throws {
        var rdb = RDBBuilder(version: 10)
        rdb.byte(0xFA)
        rdb.string("redis-ver")
        rdb.string("7.0.15")
        // MODULE_AUX before the keys: module ID (54-bit name, 10-bit version), when-opcode UINT, when.
        rdb.byte(0xF7)
        rdb.length(0xFFFF_FFFF_FFFF_FC01)
        rdb.length(2)
        rdb.length(1)
        rdb.length(5)
        rdb.string("aux payload")
        rdb.length(0)
        rdb.byte(0xFE)
        rdb.length(0)
        rdb.byte(0xFB)
        rdb.length(2)
        rdb.length(0)
        rdb.key(type: 7, "module:key")
        rdb.length(0xC2A4_B1E3_9000_0003)
        rdb.length(1)
        rdb.length(UInt64.max)  // signed -1
        rdb.length(2)
        rdb.length(1 << 40)
        rdb.length(3)
        rdb.littleEndian(UInt64(Float(1.5).bitPattern), width: 4)
        rdb.length(4)
        rdb.littleEndian(Double(-2.5).bitPattern, width: 8)
        rdb.length(5)
        rdb.lzfString(Array(repeating: UInt8(ascii: "m"), count: 70))
        rdb.length(0)
        rdb.key(type: 0, "plain")
        rdb.string("after the module value")
        // MODULE_AUX after the keys (`when` = after).
        rdb.byte(0xF7)
        rdb.length(0xFFFF_FFFF_FFFF_FC01)
        rdb.length(2)
        rdb.length(2)
        rdb.length(0)
        let result = try await self.scan(rdb.finished())
        #expect(result == RDBScanResult(version: 10, keysPerDatabase: [0: 2], checksumVerified: true))

        var badAux = RDBBuilder(version: 10)
        badAux.byte(0xF7)
        badAux.length(1)
        badAux.length(1)
        badAux.length(1)
        badAux.length(0)
        await self.expectViolation(badAux.finished(), "when")

        var badOpcode = RDBBuilder(version: 10)
        badOpcode.key(type: 7, "m")
        badOpcode.length(1)
        badOpcode.length(9)
        await self.expectViolation(badOpcode.finished(), "module opcode 9")

        var preRelease = RDBBuilder(version: 8)
        preRelease.key(type: 6, "m")
        preRelease.length(1)
        await self.expectViolation(preRelease.finished(), "pre-release module")
    }

    @Test("Streams: version 1 (5.0–6.2) and version 3 (7.2, consumers with active times)")
    func streams() async throws {
        for (type, version) in [(UInt8(15), 9), (UInt8(21), 11)] {
            var rdb = RDBBuilder(version: version)
            rdb.key(type: type, "stream")
            rdb.length(2)  // nodes: master ID (16 raw bytes as a string), listpack
            for ms: UInt64 in [1, 9] {
                rdb.string(RDBBuilder.streamID(ms: ms, seq: 0))
                rdb.listpackOfSmallIntegers([1, 2, 3])
            }
            rdb.length(7)  // length
            rdb.length(UInt64.max)  // last ID, above 2^63
            rdb.length(UInt64.max - 1)
            if type == 21 {
                rdb.length(1)  // first ID
                rdb.length(0)
                rdb.length(UInt64.max)  // largest deleted ID
                rdb.length(3)
                rdb.length(UInt64.max >> 1)  // entries added
            }
            rdb.length(2)  // groups
            for group in ["never-read", "busy"] {
                rdb.string(group)
                rdb.length(9)
                rdb.length(0)
                if type == 21 { rdb.length(group == "never-read" ? UInt64.max : 4) }  // entries-read, -1 when unknown
                let pending: [UInt64] = group == "busy" ? [1, 2, 3] : []
                rdb.length(UInt64(pending.count))
                for ms in pending {
                    rdb.rawStreamID(ms: ms, seq: 0)
                    rdb.littleEndian(1_795_965_201_530, width: 8)
                    rdb.length(ms == 3 ? 70_000 : 1)  // delivery count
                }
                rdb.length(group == "busy" ? 2 : 0)  // consumers
                if group == "busy" {
                    for (name, owned) in [("alice", pending[0..<2]), ("idle", pending[0..<0])] {
                        rdb.string(name)
                        rdb.littleEndian(1_795_965_201_530, width: 8)  // seen time
                        if type == 21 { rdb.littleEndian(1_795_965_201_000, width: 8) }  // active time
                        rdb.length(UInt64(owned.count))
                        for ms in owned { rdb.rawStreamID(ms: ms, seq: 0) }
                    }
                }
            }
            rdb.key(type: 0, "after")
            rdb.string("x")
            let result = try await self.scan(rdb.finished())
            #expect(result == RDBScanResult(version: version, keysPerDatabase: [0: 2], checksumVerified: true), "type \(type)")
        }
    }

    @Test("Every value type and encoding of versions 1–12")
    func everyType() async throws {
        var rdb = RDBBuilder(version: 12)
        rdb.key(type: 0, "string:int8")
        rdb.integerString(-100)
        rdb.key(type: 0, "string:int16")
        rdb.integerString(30_000)
        rdb.key(type: 0, "string:int32")
        rdb.integerString(-2_000_000_000)
        rdb.key(type: 0, "string:lzf")
        rdb.lzfString(Array(repeating: 0x41, count: 100))
        rdb.key(type: 0, "string:wide-length")
        rdb.string(Array("sixty-four bit length".utf8), width: .bits64)
        rdb.key(type: 1, "list")
        rdb.length(2)
        rdb.string("a")
        rdb.integerString(7)
        rdb.key(type: 2, "set")
        rdb.length(2, width: .bits32)
        rdb.string("a")
        rdb.string("b")
        rdb.key(type: 3, "zset:v1")  // scores as strings; 253 NaN, 254 +inf, 255 -inf
        rdb.length(4)
        for (member, score) in [("a", "1.5"), ("b", ""), ("c", ""), ("d", "")] {
            rdb.string(member)
            switch member {
            case "a":
                rdb.byte(UInt8(score.utf8.count))
                rdb.raw(Array(score.utf8))
            case "b": rdb.byte(253)
            case "c": rdb.byte(254)
            default: rdb.byte(255)
            }
        }
        rdb.key(type: 4, "hash")
        rdb.length(1)
        rdb.string("field")
        rdb.lzfString(Array(repeating: 0x42, count: 40))
        rdb.key(type: 5, "zset:v2")
        rdb.length(1)
        rdb.string("m")
        rdb.littleEndian(Double.infinity.bitPattern, width: 8)
        for (type, name) in [(9, "zipmap"), (10, "list:ziplist"), (11, "intset"), (12, "zset:ziplist"), (13, "hash:ziplist")] {
            rdb.key(type: UInt8(type), name)
            rdb.string(Array(repeating: 0, count: 11))  // contents are not parsed: opaque strings
        }
        rdb.key(type: 14, "quicklist:v1")
        rdb.length(2)
        rdb.string(Array(repeating: 1, count: 11))
        rdb.lzfString(Array(repeating: 2, count: 50))
        rdb.key(type: 16, "hash:listpack")
        rdb.listpackOfSmallIntegers([1, 2])
        rdb.key(type: 17, "zset:listpack")
        rdb.listpackOfSmallIntegers([1, 2])
        rdb.key(type: 18, "quicklist:v2")  // a packed node and a plain node
        rdb.length(2)
        rdb.length(2)
        rdb.listpackOfSmallIntegers([1, 2, 3])
        rdb.length(1)
        rdb.lzfString(Array(repeating: 0x50, count: 500))
        rdb.key(type: 20, "set:listpack")  // Redis 7.2
        rdb.listpackOfSmallIntegers([4, 5, 6])
        rdb.key(type: 22, "hash:ttl-pre-ga")  // Redis 7.4 RC: absolute TTL per field
        rdb.length(1)
        rdb.length(1_795_965_201_530)
        rdb.string("f")
        rdb.string("v")
        rdb.key(type: 23, "hash:listpack-ttl-pre-ga")
        rdb.listpackOfSmallIntegers([1, 2, 3])
        rdb.key(type: 24, "hash:ttl")  // Redis 7.4: minimum expiry, then TTLs relative to it
        rdb.littleEndian(1_795_965_201_530, width: 8)
        rdb.length(2)
        for ttl: UInt64 in [0, 5000] {
            rdb.length(ttl)
            rdb.string("f\(ttl)")
            rdb.integerString(1)
        }
        rdb.key(type: 25, "hash:listpack-ttl")
        rdb.littleEndian(1_795_965_201_530, width: 8)
        rdb.listpackOfSmallIntegers([1, 2, 3])
        let result = try await self.scan(rdb.finished())
        #expect(result == RDBScanResult(version: 12, keysPerDatabase: [0: 24], checksumVerified: true))
    }

    @Test("Opcodes: AUX, SELECTDB, RESIZEDB, EXPIRETIME, EXPIRETIME_MS, IDLE, FREQ, SLOT_INFO, functions")
    func opcodes() async throws {
        var rdb = RDBBuilder(version: 10)
        rdb.byte(0xFA)
        rdb.string("redis-bits")
        rdb.integerString(64)
        rdb.byte(0xF5)  // FUNCTION2: the library source
        rdb.lzfString(Array("#!lua name=lib\nredis.register_function('f', function() return 1 end)".utf8))
        for description in [nil, "a description"] as [String?] {
            rdb.byte(0xF6)  // 7.0 RC function record: name, engine, description flag (+ description), code
            rdb.string("lib")
            rdb.string("LUA")
            rdb.length(description == nil ? 0 : 1)
            if let description { rdb.string(description) }
            rdb.string("return 1")
        }
        rdb.byte(0xFE)
        rdb.length(7, width: .bits32)
        rdb.byte(0xFB)
        rdb.length(3)
        rdb.length(2)
        rdb.byte(0xF4)  // SLOT_INFO (cluster mode)
        rdb.length(16383)
        rdb.length(3)
        rdb.length(2)
        rdb.byte(0xFD)
        rdb.littleEndian(2_000_000_000, width: 4)
        rdb.byte(0xF8)
        rdb.length(1 << 40, width: .bits64)
        rdb.key(type: 0, "seconds")
        rdb.string("v")
        rdb.byte(0xFC)
        rdb.littleEndian(1_795_965_201_530, width: 8)
        rdb.byte(0xF9)
        rdb.byte(5)
        rdb.key(type: 0, "milliseconds")
        rdb.string("v")
        rdb.byte(0xFE)
        rdb.length(300)
        rdb.key(type: 0, "db300")
        rdb.string("v")
        let result = try await self.scan(rdb.finished())
        #expect(result == RDBScanResult(version: 10, keysPerDatabase: [7: 2, 300: 1], checksumVerified: true))
    }

    @Test("Checksums: zero means none; version 4 files have none")
    func checksums() async throws {
        var rdb = RDBBuilder(version: 9)
        rdb.key(type: 0, "k")
        rdb.string("v")
        #expect(try await self.scan(rdb.finished(checksum: false)).checksumVerified == false)
        var old = RDBBuilder(version: 4)
        old.key(type: 0, "k")
        old.string("v")
        let result = try await self.scan(old.bytes + [0xFF])
        #expect(result == RDBScanResult(version: 4, keysPerDatabase: [0: 1], checksumVerified: false))
    }

    @Test("Malformed files fail with a protocol violation")
    func malformed() async throws {
        var valid = RDBBuilder(version: 10)
        valid.key(type: 0, "k")
        valid.string("value")
        let file = valid.finished()
        await self.expectViolation(Array(file.dropLast(3)), "ended before")
        await self.expectViolation(file + [0], "follow the end")
        var tampered = file
        tampered[tampered.count - 12] ^= 1
        await self.expectViolation(tampered, "checksum mismatch")
        await self.expectViolation(Array("REDIS0013".utf8) + [0xFF], "unsupported RDB version 13")
        await self.expectViolation(Array("RUBIS0010".utf8) + [0xFF], "RDB header")

        var unknownType = RDBBuilder(version: 10)
        unknownType.key(type: 26, "k")
        await self.expectViolation(unknownType.finished(), "unknown RDB value type 26")

        var container = RDBBuilder(version: 10)
        container.key(type: 18, "k")
        container.length(1)
        container.length(3)
        container.string("x")
        await self.expectViolation(container.finished(), "quicklist container 3")

        var hugeCount = RDBBuilder(version: 10)
        hugeCount.key(type: 1, "k")
        hugeCount.length(UInt64.max)
        await self.expectViolation(hugeCount.finished(), "out of range")

        var badLength = RDBBuilder(version: 10)
        badLength.key(type: 1, "k")
        badLength.byte(0x82)
        await self.expectViolation(badLength.finished(), "bad RDB length byte")

        var badEncoding = RDBBuilder(version: 10)
        badEncoding.key(type: 0, "k")
        badEncoding.byte(0xC4)
        await self.expectViolation(badEncoding.finished(), "string encoding 4")
    }
}
