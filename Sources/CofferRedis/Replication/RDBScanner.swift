import NIOCore

/// What a scan of one complete RDB found.
package struct RDBScanResult: Sendable, Equatable {
    /// Format version (`REDIS0010` → 10).
    package var version: Int
    /// Keys per database, counted while parsing.
    package var keysPerDatabase: [Int: Int]
    /// Whether the file carried a checksum (0 means `rdbchecksum no`); when it did, it was verified.
    package var checksumVerified: Bool

    package init(version: Int, keysPerDatabase: [Int: Int], checksumVerified: Bool) {
        self.version = version
        self.keysPerDatabase = keysPerDatabase
        self.checksumVerified = checksumVerified
    }
}

/// Checks RDB files held in memory with the same walker that follows a replication pull, so a file
/// from elsewhere (or one built by hand in a test) meets exactly the rules a pulled snapshot meets.
package enum RDBScanner {
    /// Scans `bytes`, which must hold exactly one RDB and nothing after it.
    /// - Parameter chunkSize: how the bytes are handed to the walker; small sizes exercise records
    ///   that straddle chunk boundaries, as they do on a socket.
    /// - Throws: ``RedisError/protocolViolation(_:)`` at the first byte that breaks the format, or
    ///   when the bytes end early or go on past the checksum.
    package static func scan(_ bytes: [UInt8], chunkSize: Int = 16 * 1024) async throws -> RDBScanResult {
        let chunks = stride(from: 0, to: bytes.count, by: max(1, chunkSize)).map {
            ByteBuffer(bytes: bytes[$0..<min($0 + max(1, chunkSize), bytes.count)])
        }
        var next = chunks.makeIterator()
        var source = ReplicationSource(nextChunk: { next.next() }, sink: { _ in }, progress: { _ in })
        source.startPayload(length: Int64(bytes.count))
        let result = try await source.scanRDB()
        guard source.written == Int64(bytes.count) else {
            throw RedisError.protocolViolation("\(Int64(bytes.count) - source.written) bytes follow the end of the RDB")
        }
        return result
    }
}

extension RDBScanner {
    /// Scans an RDB read chunk by chunk (a stored backup), with memory flat: exactly `length` bytes must form
    /// one RDB.
    package static func scan(length: Int64, chunks: @escaping () async throws -> ByteBuffer?) async throws -> RDBScanResult {
        var source = ReplicationSource(nextChunk: chunks, sink: { _ in }, progress: { _ in })
        source.startPayload(length: length)
        let result = try await source.scanRDB()
        guard source.consumed == length else {
            throw RedisError.protocolViolation("\(length - source.consumed) bytes follow the end of the RDB")
        }
        return result
    }
}

/// Walks an RDB file (versions 1–12) as it streams by, without keeping values: it counts keys per
/// database, learns the key totals from `RESIZEDB`, finds the end (`0xFF`) and verifies the CRC-64.
///
/// Knowing where the file ends is what makes the diskless `$EOF:` framing safe (the 40-byte mark is
/// then checked, not searched for), and the key counts give progress when no byte total exists.
/// Formats: reference `redis-replication-and-rdb.md` §4, and redis `src/rdb.c` (`rdbLoadObject`).
///
/// Redis writes two kinds of length-encoded integers with the same encoding: counts of what follows,
/// and plain 64-bit values (stream IDs, counters, module IDs, a group's entries-read, which is -1 and
/// so 2^64-1 until known). Only counts must fit an `Int`; values are read as `UInt64` and dropped.
extension ReplicationSource {
    /// Scans one complete RDB.
    ///
    /// A record that lies whole in the chunk in hand is walked over without awaiting (``skipBufferedRecords(_:)``, the
    /// restore's fast path without keeping the records, same rules): nearly every record of small keys. The awaiting
    /// walk's per-call task allocations cost more than the parsing itself (a 3-shard backup's profile: most of
    /// Coffer's CPU), so it takes one item and hands back.
    mutating func scanRDB() async throws -> RDBScanResult {
        var walk = try await self.beginRDB()
        while true {
            _ = try self.skipBufferedRecords(&walk)
            if case .end(let result) = try await self.nextRDBItem(&walk, capture: false) { return result }
        }
    }

    /// Reads the `REDISnnnn` header and returns the walk's state.
    mutating func beginRDB() async throws -> RDBWalk {
        let magic = try await self.read(9)
        guard magic.count == 9, Array(magic[0..<5]) == Array("REDIS".utf8),
            let version = Int(String(decoding: magic[5..<9], as: UTF8.self))
        else { throw RedisError.protocolViolation("the payload does not start with an RDB header") }
        guard (1...12).contains(version) else { throw RedisError.protocolViolation("unsupported RDB version \(version)") }
        return RDBWalk(version: version)
    }

    /// Walks to the next key record, function or the end. With `capture`, a key record's key is decoded and
    /// its value's bytes are kept (one record at a time); without, both are skipped, as a backup needs.
    mutating func nextRDBItem(_ walk: inout RDBWalk, capture: Bool) async throws -> RDBItem {
        while true {
            let opcode = try await self.readByte()
            switch opcode {
            case 0xFF:  // EOF, then (from version 5) the CRC-64 of everything up to here, little-endian.
                self.checksumEnd = self.consumed
                let stored: UInt64 = walk.version >= 5 ? try await self.readInteger(endianness: .little) : 0
                try await self.finishPayload()
                if stored == 0 { return .end(RDBScanResult(version: walk.version, keysPerDatabase: walk.keys, checksumVerified: false)) }
                guard stored == self.checksum else {
                    throw RedisError.protocolViolation(
                        "RDB checksum mismatch: stored \(String(stored, radix: 16)), computed \(String(self.checksum, radix: 16))")
                }
                return .end(RDBScanResult(version: walk.version, keysPerDatabase: walk.keys, checksumVerified: true))
            case 0xFE: walk.database = try await self.readCount()  // SELECTDB
            case 0xFB:  // RESIZEDB: keys, keys with an expiry
                self.keysTotalPerDatabase[walk.database] = try await self.readCount()
                _ = try await self.readNumber()
            case 0xFA: try await self.skipStrings(2)  // AUX: name, value
            case 0xFC:  // EXPIRETIME_MS: absolute Unix ms, little-endian
                walk.expiry = Int64(bitPattern: try await self.readInteger(endianness: .little, as: UInt64.self))
            case 0xFD:  // EXPIRETIME (seconds)
                walk.expiry = Int64(try await self.readInteger(endianness: .little, as: UInt32.self)) * 1000
            case 0xF9: walk.freq = try await self.readByte()  // FREQ
            case 0xF8: walk.idle = try await self.readNumber()  // IDLE
            case 0xF7: try await self.skipModuleAux()
            case 0xF6: try await self.skipPreReleaseFunction()
            case 0xF5:  // FUNCTION2: the library's source
                if capture { return .function(try await self.readStringBytes()) }
                try await self.skipString()
            case 0xF4:  // SLOT_INFO: slot, keys, keys with an expiry
                for _ in 0..<3 { _ = try await self.readNumber() }
            default:
                defer { walk.expiry = nil; walk.idle = nil; walk.freq = nil }
                walk.keys[walk.database, default: 0] += 1
                self.keysParsed += 1
                guard capture else {
                    try await self.skipString()
                    try await self.skipValue(type: opcode)
                    return .skipped
                }
                let key = try await self.readStringBytes()
                self.startCapture()
                try await self.skipValue(type: opcode)
                return .record(
                    RDBRecord(
                        database: walk.database, key: key, expiry: walk.expiry, idle: walk.idle, freq: walk.freq, type: opcode,
                        value: self.endCapture()))
            }
        }
    }

    /// A string's bytes, decoded: plain, integer-encoded (as decimal text) or LZF-compressed (§4.3).
    mutating func readStringBytes() async throws -> ByteBuffer {
        let (length, special) = try await self.readLengthOrEncoding()
        guard special else {
            guard let count = Int(exactly: length) else { throw RedisError.protocolViolation("RDB length out of range") }
            return try await self.readBuffer(count)
        }
        let number: Int64
        switch length {
        case 0: number = Int64(Int8(bitPattern: try await self.readByte()))
        case 1: number = Int64(Int16(bitPattern: try await self.readInteger(endianness: .little, as: UInt16.self)))
        case 2: number = Int64(Int32(bitPattern: try await self.readInteger(endianness: .little, as: UInt32.self)))
        case 3:
            let compressed = try await self.readCount()
            let expanded = try await self.readCount()
            return try LZF.decompress(try await self.readBuffer(compressed), expandedLength: expanded)
        default: throw RedisError.protocolViolation("unknown RDB string encoding \(length)")
        }
        return ByteBuffer(string: String(number))
    }

    /// A 64-bit length-encoded integer (§4.2). Special string encodings are rejected here; `skipString`
    /// handles them.
    private mutating func readNumber() async throws -> UInt64 {
        let (value, special) = try await self.readLengthOrEncoding()
        guard !special else { throw RedisError.protocolViolation("unexpected string encoding where a length belongs") }
        return value
    }

    /// A count of items or bytes that follow; must fit an `Int`.
    private mutating func readCount() async throws -> Int {
        guard let count = Int(exactly: try await self.readNumber()) else { throw RedisError.protocolViolation("RDB length out of range") }
        return count
    }

    /// A length, or (`special == true`) a string encoding number in the low 6 bits.
    private mutating func readLengthOrEncoding() async throws -> (UInt64, special: Bool) {
        if let (value, special, width) = try RDBLength.peek(self.buffer, at: self.buffer.readerIndex) {
            self.consumeBuffered(width)
            return (value, special)
        }
        let first = try await self.readByte()
        let rest = try await self.read(try RDBLength.width(first: first) - 1)
        return RDBLength.decode(first: first) { rest[$0] }
    }

    /// Skips a string: plain, integer-encoded (8, 16, 32 bits) or LZF-compressed (§4.3).
    private mutating func skipString() async throws {
        let (length, special) = try await self.readLengthOrEncoding()
        guard special else {
            guard let count = Int(exactly: length) else { throw RedisError.protocolViolation("RDB length out of range") }
            return try await self.skip(count)
        }
        switch length {
        case 0: try await self.skip(1)
        case 1: try await self.skip(2)
        case 2: try await self.skip(4)
        case 3:
            let compressed = try await self.readCount()
            _ = try await self.readNumber()
            try await self.skip(compressed)
        default: throw RedisError.protocolViolation("unknown RDB string encoding \(length)")
        }
    }

    private mutating func skipStrings(_ count: Int) async throws {
        for _ in 0..<count { try await self.skipString() }
    }

    /// Skips one value of `type` (§4.5).
    private mutating func skipValue(type: UInt8) async throws {
        switch type {
        // One string: a string; the serialized ziplist, intset, listpack or zipmap of the compact encodings.
        case 0, 9, 10, 11, 12, 13, 16, 17, 20, 23: try await self.skipString()
        // List, set: members. Quicklist (v1): ziplists.
        case 1, 2, 14:
            for _ in 0..<(try await self.readCount()) { try await self.skipString() }
        case 3:  // Sorted set (v1): member, score as a string with a one-byte length; 253–255 are NaN, +inf, -inf.
            for _ in 0..<(try await self.readCount()) {
                try await self.skipString()
                let length = try await self.readByte()
                if length < 253 { try await self.skip(Int(length)) }
            }
        case 4:  // Hash: field, value.
            for _ in 0..<(try await self.readCount()) { try await self.skipStrings(2) }
        case 5:  // Sorted set (v2): member, binary double.
            for _ in 0..<(try await self.readCount()) {
                try await self.skipString()
                try await self.skip(8)
            }
        case 6: throw RedisError.protocolViolation("RDB uses the pre-release module format (4.0 RC), which Redis no longer loads")
        case 7:  // Module value: module ID, then typed items up to EOF.
            _ = try await self.readNumber()
            try await self.skipModuleItems()
        case 15: try await self.skipStream(version: 1)
        case 19: try await self.skipStream(version: 2)
        case 21: try await self.skipStream(version: 3)
        case 18:  // Quicklist (v2): container (1 plain, 2 packed), then the element or listpack.
            for _ in 0..<(try await self.readCount()) {
                let container = try await self.readNumber()
                guard container == 1 || container == 2 else { throw RedisError.protocolViolation("unknown quicklist container \(container)") }
                try await self.skipString()
            }
        case 22, 24:  // Hash with field TTLs (7.4): [minimum expiry,] then TTL, field, value.
            if type == 24 { try await self.skip(8) }
            for _ in 0..<(try await self.readCount()) {
                _ = try await self.readNumber()
                try await self.skipStrings(2)
            }
        case 25:  // Listpack hash with field TTLs (7.4): minimum expiry, listpack.
            try await self.skip(8)
            try await self.skipString()
        default: throw RedisError.protocolViolation("unknown RDB value type \(type)")
        }
    }

    /// MODULE_AUX: module ID, the `when` (written as an unsigned-integer item), then items up to EOF.
    private mutating func skipModuleAux() async throws {
        _ = try await self.readNumber()
        let whenOpcode = try await self.readNumber()
        guard whenOpcode == 2 else { throw RedisError.protocolViolation("module aux data without its 'when' field") }
        _ = try await self.readNumber()
        try await self.skipModuleItems()
    }

    /// Typed module items until opcode 0: 1 signed and 2 unsigned integers (length-encoded, 64 bits),
    /// 3 float (4 bytes), 4 double (8 bytes), 5 string.
    private mutating func skipModuleItems() async throws {
        while true {
            switch try await self.readNumber() {
            case 0: return
            case 1, 2: _ = try await self.readNumber()
            case 3: try await self.skip(4)
            case 4: try await self.skip(8)
            case 5: try await self.skipString()
            case let other: throw RedisError.protocolViolation("unknown module opcode \(other)")
            }
        }
    }

    /// The function library record of Redis 7.0 RC1/RC2: name, engine, a description flag (and the
    /// description), code. Released servers refuse to load it, but the bytes are well-formed.
    private mutating func skipPreReleaseFunction() async throws {
        try await self.skipStrings(2)
        if try await self.readNumber() != 0 { try await self.skipString() }
        try await self.skipString()
    }

    /// Streams (§4.6). Version 1 is `STREAM_LISTPACKS`, 2 adds the first ID, the largest deleted ID,
    /// entries-added and each group's entries-read (7.0), 3 adds each consumer's active time (7.2).
    private mutating func skipStream(version: Int) async throws {
        // Nodes: master ID (a 16-byte string), listpack.
        for _ in 0..<(try await self.readCount()) { try await self.skipStrings(2) }
        // Length, last ID; then first ID, largest deleted ID, entries added.
        for _ in 0..<(version >= 2 ? 8 : 3) { _ = try await self.readNumber() }
        for _ in 0..<(try await self.readCount()) {
            try await self.skipString()  // group name
            // Last delivered ID; then entries-read.
            for _ in 0..<(version >= 2 ? 3 : 2) { _ = try await self.readNumber() }
            // The group's PEL: raw 128-bit ID, delivery time (ms, 8 bytes), delivery count.
            for _ in 0..<(try await self.readCount()) {
                try await self.skip(16 + 8)
                _ = try await self.readNumber()
            }
            // Consumers: name, seen time (ms), active time (ms, version 3), their PEL of raw IDs.
            for _ in 0..<(try await self.readCount()) {
                try await self.skipString()
                try await self.skip(version >= 3 ? 16 : 8)
                for _ in 0..<(try await self.readCount()) { try await self.skip(16) }
            }
        }
    }
}
