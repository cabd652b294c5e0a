/// Walks an RDB file (versions 1–12) as it streams by, without keeping values: it counts keys per
/// database, learns the key totals from `RESIZEDB`, finds the end (`0xFF`) and verifies the CRC-64.
///
/// Knowing where the file ends is what makes the diskless `$EOF:` framing safe (the 40-byte mark is
/// then checked, not searched for), and the key counts give progress when no byte total exists.
/// Formats: reference `redis-replication-and-rdb.md` §4.
extension ReplicationSource {
    /// Scans one complete RDB.
    /// - Returns: the format version, the keys per database and whether a checksum was verified.
    mutating func scanRDB() async throws -> (version: Int, keys: [Int: Int], checksumVerified: Bool) {
        let magic = try await self.read(9)
        guard magic.count == 9, Array(magic[0..<5]) == Array("REDIS".utf8),
            let version = Int(String(decoding: magic[5..<9], as: UTF8.self))
        else { throw RedisError.protocolViolation("the payload does not start with an RDB header") }
        guard (1...12).contains(version) else { throw RedisError.protocolViolation("unsupported RDB version \(version)") }
        var database = 0
        var keys: [Int: Int] = [:]
        while true {
            let opcode = try await self.readByte()
            switch opcode {
            case 0xFF:
                self.checksumEnd = self.consumed
                guard version >= 5 else { return (version, keys, false) }
                let stored = try await self.read(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
                try await self.finishPayload()
                if stored == 0 { return (version, keys, false) }
                guard stored == self.checksum else {
                    throw RedisError.protocolViolation(
                        "RDB checksum mismatch: stored \(String(stored, radix: 16)), computed \(String(self.checksum, radix: 16))")
                }
                return (version, keys, true)
            case 0xFE: database = try await self.readLength()
            case 0xFB:
                self.keysTotalPerDatabase[database] = try await self.readLength()
                _ = try await self.readLength()
            case 0xFA:
                try await self.skipString()
                try await self.skipString()
            case 0xFC: try await self.skip(8)
            case 0xFD: try await self.skip(4)
            case 0xF9: try await self.skip(1)
            case 0xF8: _ = try await self.readLength()
            case 0xF7:
                _ = try await self.readLength()
                try await self.skipModuleValue()
            case 0xF5: try await self.skipString()
            case 0xF4:
                for _ in 0..<3 { _ = try await self.readLength() }
            case 0xF6: throw RedisError.protocolViolation("RDB uses the pre-release function format (7.0 RC)")
            default:
                try await self.skipString()
                try await self.skipValue(type: opcode)
                keys[database, default: 0] += 1
                self.keysParsed += 1
            }
        }
    }

    /// A length (§4.2). Special string encodings are rejected here; `skipString` handles them.
    private mutating func readLength() async throws -> Int {
        let (length, special) = try await self.readLengthOrEncoding()
        guard !special else { throw RedisError.protocolViolation("unexpected string encoding where a length belongs") }
        return length
    }

    /// A length, or (`special == true`) a string encoding number in the low 6 bits.
    private mutating func readLengthOrEncoding() async throws -> (Int, special: Bool) {
        let first = try await self.readByte()
        switch first >> 6 {
        case 0: return (Int(first & 0x3f), false)
        case 1: return (Int(first & 0x3f) << 8 | Int(try await self.readByte()), false)
        case 2:
            let width = first == 0x80 ? 4 : first == 0x81 ? 8 : 0
            guard width > 0 else { throw RedisError.protocolViolation("bad RDB length byte \(first)") }
            let value = try await self.read(width).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            guard value < UInt64(Int.max) else { throw RedisError.protocolViolation("RDB length out of range") }
            return (Int(value), false)
        default: return (Int(first & 0x3f), true)
        }
    }

    /// Skips a string: plain, integer-encoded or LZF-compressed (§4.3).
    private mutating func skipString() async throws {
        let (length, special) = try await self.readLengthOrEncoding()
        guard special else { return try await self.skip(length) }
        switch length {
        case 0: try await self.skip(1)
        case 1: try await self.skip(2)
        case 2: try await self.skip(4)
        case 3:
            let compressed = try await self.readLength()
            _ = try await self.readLength()
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
        case 0, 9, 10, 11, 12, 13, 16, 17, 20, 23: try await self.skipString()
        case 1, 2, 14: try await self.skipStrings(try await self.readLength())
        case 3:
            for _ in 0..<(try await self.readLength()) {
                try await self.skipString()
                let length = try await self.readByte()
                if length < 253 { try await self.skip(Int(length)) }
            }
        case 4: try await self.skipStrings(2 * (try await self.readLength()))
        case 5:
            for _ in 0..<(try await self.readLength()) {
                try await self.skipString()
                try await self.skip(8)
            }
        case 7:
            _ = try await self.readLength()
            try await self.skipModuleValue()
        case 15: try await self.skipStream(version: 1)
        case 19: try await self.skipStream(version: 2)
        case 21: try await self.skipStream(version: 3)
        case 18:
            for _ in 0..<(try await self.readLength()) {
                _ = try await self.readLength()
                try await self.skipString()
            }
        case 22, 24:
            if type == 24 { try await self.skip(8) }
            for _ in 0..<(try await self.readLength()) {
                _ = try await self.readLength()
                try await self.skipStrings(2)
            }
        case 25:
            try await self.skip(8)
            try await self.skipString()
        default: throw RedisError.protocolViolation("unknown RDB value type \(type)")
        }
    }

    /// Module values and MODULE_AUX: (opcode, payload) pairs until opcode 0.
    private mutating func skipModuleValue() async throws {
        while true {
            switch try await self.readLength() {
            case 0: return
            case 1, 2: _ = try await self.readLength()
            case 3: try await self.skip(4)
            case 4: try await self.skip(8)
            case 5: try await self.skipString()
            case let other: throw RedisError.protocolViolation("unknown module opcode \(other)")
            }
        }
    }

    /// Streams (§4.6): listpacks, metadata, consumer groups with their pending lists and consumers.
    private mutating func skipStream(version: Int) async throws {
        try await self.skipStrings(2 * (try await self.readLength()))
        for _ in 0..<(version >= 2 ? 8 : 3) { _ = try await self.readLength() }
        for _ in 0..<(try await self.readLength()) {
            try await self.skipString()
            for _ in 0..<(version >= 2 ? 3 : 2) { _ = try await self.readLength() }
            for _ in 0..<(try await self.readLength()) {
                try await self.skip(16 + 8)
                _ = try await self.readLength()
            }
            for _ in 0..<(try await self.readLength()) {
                try await self.skipString()
                try await self.skip(version >= 3 ? 16 : 8)
                try await self.skip(16 * (try await self.readLength()))
            }
        }
    }
}
