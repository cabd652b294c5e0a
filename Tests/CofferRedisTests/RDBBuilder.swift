import CofferRedis

/// Writes RDB bytes by hand, following the format (redis `src/rdb.c`, reference §4), for records the
/// installed `redis-server` cannot produce: module data, encodings of older and newer servers.
struct RDBBuilder {
    private(set) var bytes: [UInt8]

    init(version: Int) {
        let digits = String(version)
        self.bytes = Array("REDIS".utf8) + Array((String(repeating: "0", count: Swift.max(0, 4 - digits.count)) + digits).utf8)
    }

    /// How a length is written: the shortest form, as Redis does, or a wider one (still valid).
    enum Width { case shortest, bits32, bits64 }

    mutating func byte(_ value: UInt8) { self.bytes.append(value) }

    mutating func raw(_ values: [UInt8]) { self.bytes += values }

    /// Little-endian fixed-width integers: millisecond times, binary doubles, checksums.
    mutating func littleEndian(_ value: UInt64, width: Int) {
        for index in 0..<width { self.bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(index)))) }
    }

    mutating func length(_ value: UInt64, width: Width = .shortest) {
        switch width {
        case .shortest where value < 1 << 6: self.bytes.append(UInt8(value))
        case .shortest where value < 1 << 14: self.bytes += [0x40 | UInt8(value >> 8), UInt8(value & 0xff)]
        case .shortest where value <= UInt64(UInt32.max), .bits32:
            self.bytes.append(0x80)
            for shift in stride(from: 24, through: 0, by: -8) { self.bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
        case .shortest, .bits64:
            self.bytes.append(0x81)
            for shift in stride(from: 56, through: 0, by: -8) { self.bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
        }
    }

    mutating func string(_ value: [UInt8], width: Width = .shortest) {
        self.length(UInt64(value.count), width: width)
        self.bytes += value
    }

    mutating func string(_ value: String) { self.string(Array(value.utf8)) }

    /// Integer-encoded strings: 0xC0 int8, 0xC1 int16, 0xC2 int32 (little-endian).
    mutating func integerString(_ value: Int32) {
        if let small = Int8(exactly: value) {
            self.bytes += [0xC0, UInt8(bitPattern: small)]
        } else if let medium = Int16(exactly: value) {
            self.bytes.append(0xC1)
            self.littleEndian(UInt64(UInt16(bitPattern: medium)), width: 2)
        } else {
            self.bytes.append(0xC2)
            self.littleEndian(UInt64(UInt32(bitPattern: value)), width: 4)
        }
    }

    /// An LZF string made of literal runs only (valid LZF: control byte `n - 1` < 32, then `n` bytes).
    mutating func lzfString(_ value: [UInt8]) {
        var compressed: [UInt8] = []
        for start in stride(from: 0, to: value.count, by: 32) {
            let run = value[start..<min(start + 32, value.count)]
            compressed.append(UInt8(run.count - 1))
            compressed += run
        }
        self.bytes.append(0xC3)
        self.length(UInt64(compressed.count))
        self.length(UInt64(value.count))
        self.bytes += compressed
    }

    /// A key record: type byte, then the key name; the value follows.
    mutating func key(type: UInt8, _ name: String) {
        self.bytes.append(type)
        self.string(name)
    }

    /// A listpack of small unsigned integers (7-bit encoding, one-byte back-length), as a string.
    mutating func listpackOfSmallIntegers(_ values: [UInt8]) {
        var listpack: [UInt8] = []
        let total = 6 + 2 * values.count + 1
        listpack += [UInt8(total & 0xff), UInt8(total >> 8), 0, 0, UInt8(values.count), 0]
        for value in values { listpack += [value & 0x7f, 1] }
        listpack.append(0xFF)
        self.string(listpack)
    }

    /// A 128-bit stream ID as Redis stores it raw in PELs: big-endian milliseconds, then sequence.
    static func streamID(ms: UInt64, seq: UInt64) -> [UInt8] {
        [ms, seq].flatMap { value in stride(from: 56, through: 0, by: -8).map { UInt8(truncatingIfNeeded: value >> UInt64($0)) } }
    }

    mutating func rawStreamID(ms: UInt64, seq: UInt64) { self.bytes += Self.streamID(ms: ms, seq: seq) }

    /// The end: EOF, then the CRC-64 of everything before it and of the EOF byte (or zero: no checksum).
    func finished(checksum: Bool = true) -> [UInt8] {
        var out = self.bytes + [0xFF]
        var crc = CRC64()
        crc.update(out)
        let value = checksum ? crc.value : 0
        for index in 0..<8 { out.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(index)))) }
        return out
    }
}
