import NIOCore

/// What a target Redis accepts in `RESTORE` payloads, from its `INFO server` (reference `restore.md` §2).
///
/// `verifyDumpPayload` checks only the payload's version field (≤ the server's `RDB_VERSION`) and the CRC;
/// a type byte the server does not know fails later (`ERR Bad data format`). Encodings of known types did
/// not change between RDB 9 and 12, so a payload whose type the target knows is made acceptable by writing
/// `min(backup version, target version)` into its version field (the downgrade rule).
package struct RestoreTarget: Sendable, Equatable {
    /// The highest DUMP payload version the server accepts (its `RDB_VERSION`).
    package var rdbVersion: Int
    /// The highest value type byte the server understands.
    package var highestType: UInt8

    package init(rdbVersion: Int, highestType: UInt8) {
        self.rdbVersion = rdbVersion
        self.highestType = highestType
    }

    /// The limits of a server that reports `redis_version` (and, on Valkey, `valkey_version`).
    ///
    /// Redis 6.2 → 9 / 15, 7.0 → 10 / 19, 7.2 and Valkey 7.2–8.x → 11 / 21, 7.4 and later → 12 / 25. Versions
    /// before 5.0 (RDB 8, types ≤ 14) are handled as such; an unreadable version is treated as the oldest
    /// supported one, so nothing the server might not know is sent unchecked.
    package init(redisVersion: String?, valkeyVersion: String? = nil) {
        if let valkey = valkeyVersion.flatMap(Self.majorMinor) {
            // Valkey 9 writes RDB 80 but still loads 11 and every Redis type up to 21.
            self = valkey.major >= 7 ? RestoreTarget(rdbVersion: 11, highestType: 21) : RestoreTarget(rdbVersion: 9, highestType: 15)
            return
        }
        guard let (major, minor) = redisVersion.flatMap(Self.majorMinor) else {
            self.init(rdbVersion: 9, highestType: 15)
            return
        }
        switch (major, minor) {
        case (..<5, _): self.init(rdbVersion: 8, highestType: 14)
        case (5, _), (6, _): self.init(rdbVersion: 9, highestType: 15)
        case (7, ..<2): self.init(rdbVersion: 10, highestType: 19)
        case (7, ..<4): self.init(rdbVersion: 11, highestType: 21)
        default: self.init(rdbVersion: 12, highestType: 25)
        }
    }

    /// Whether `SET … PXAT` is sure to be understood: Redis 7.0 and later (RDB 10+), Valkey included. 6.2 has it
    /// too, but shares RDB 9 with 5.0–6.0, which do not.
    package var setsAbsoluteDeadlines: Bool { self.rdbVersion >= 10 }

    /// Whether the server can load a value of `type`. Types 6 (pre-GA module) and 22/23 (7.4 release
    /// candidates) are loaded by no released server.
    package func knows(type: UInt8) -> Bool {
        type <= self.highestType && type != 6 && type != 8 && type != 22 && type != 23
    }

    private static func majorMinor(_ text: String) -> (major: Int, minor: Int)? {
        let parts = text.split(separator: ".")
        guard parts.count >= 2, let major = Int(parts[0]), let minor = Int(parts[1]) else { return nil }
        return (major, minor)
    }
}

/// A RESTORE payload: `<type byte><value bytes><2-byte LE version><8-byte LE CRC-64 of everything before>`
/// (reference `redis-replication-and-rdb.md` §5). Written straight into a request buffer, so a large value
/// is copied once.
package enum DumpPayload {
    /// The payload's length for a value of `valueLength` bytes.
    package static func length(valueLength: Int) -> Int { 1 + valueLength + 2 + 8 }

    /// Appends the payload for `type` and `value`, with `version` in its version field; `writer` has room for
    /// ``length(valueLength:)`` bytes.
    static func write(type: UInt8, value: ByteBuffer, version: Int, into writer: inout RawBytesWriter) {
        let start = writer.count
        writer.byte(type)
        writer.bytes(value)
        writer.littleEndian(UInt16(truncatingIfNeeded: version))
        var crc = CRC64()
        crc.update(writer.written(from: start))
        writer.littleEndian(crc.value)
    }

    /// The payload as a buffer of its own (tests, single commands).
    package static func make(type: UInt8, value: ByteBuffer, version: Int) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: Self.length(valueLength: value.readableBytes)) { memory in
            var writer = RawBytesWriter(memory)
            Self.write(type: type, value: value, version: version, into: &writer)
            return writer.count
        }
        return buffer
    }
}
