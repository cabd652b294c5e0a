import NIOCore

/// Reads the primitives of the RDB value encoding (lengths, strings, raw integers) from one value's bytes.
///
/// Unlike the streaming walker in `RDBScanner.swift`, a value is decoded from a buffer that holds all of it,
/// so reads are synchronous and strings come back as slices. Every read checks that the bytes are there:
/// a truncated or corrupt value is an error, never a trap.
struct RDBValueReader {
    private(set) var buffer: ByteBuffer

    init(_ buffer: ByteBuffer) {
        self.buffer = buffer
    }

    var isAtEnd: Bool { self.buffer.readableBytes == 0 }

    static func violation(_ message: String) -> RedisError { .protocolViolation(message) }

    mutating func byte() throws -> UInt8 {
        guard let value = self.buffer.readInteger(as: UInt8.self) else { throw Self.violation("RDB value ends early") }
        return value
    }

    mutating func bytes(_ count: Int) throws -> ByteBuffer {
        guard count >= 0, let slice = self.buffer.readSlice(length: count) else { throw Self.violation("RDB value ends early") }
        return slice
    }

    mutating func littleEndian<T: FixedWidthInteger>(_: T.Type) throws -> T {
        guard let value = self.buffer.readInteger(endianness: .little, as: T.self) else { throw Self.violation("RDB value ends early") }
        return value
    }

    mutating func bigEndian<T: FixedWidthInteger>(_: T.Type) throws -> T {
        guard let value = self.buffer.readInteger(endianness: .big, as: T.self) else { throw Self.violation("RDB value ends early") }
        return value
    }

    /// A length or (`special`) a string encoding number (reference §4.2).
    mutating func lengthOrEncoding() throws -> (value: UInt64, special: Bool) {
        let first = try self.byte()
        switch first >> 6 {
        case 0: return (UInt64(first & 0x3f), false)
        case 1: return (UInt64(first & 0x3f) << 8 | UInt64(try self.byte()), false)
        case 2:
            switch first {
            case 0x80: return (UInt64(try self.bigEndian(UInt32.self)), false)
            case 0x81: return (try self.bigEndian(UInt64.self), false)
            default: throw Self.violation("bad RDB length byte \(first)")
            }
        default: return (UInt64(first & 0x3f), true)
        }
    }

    /// A length-encoded 64-bit value.
    mutating func number() throws -> UInt64 {
        let (value, special) = try self.lengthOrEncoding()
        guard !special else { throw Self.violation("unexpected string encoding where a length belongs") }
        return value
    }

    /// A count of things that follow. It cannot exceed the bytes left, since every counted item takes at
    /// least one byte, which keeps a corrupt count from reserving huge arrays.
    mutating func count() throws -> Int {
        guard let count = Int(exactly: try self.number()), count <= self.buffer.readableBytes else {
            throw Self.violation("RDB count larger than the value")
        }
        return count
    }

    /// A string: plain, integer-encoded or LZF-compressed (§4.3). Integers come back as decimal text.
    mutating func string() throws -> ByteBuffer {
        let (length, special) = try self.lengthOrEncoding()
        guard special else {
            guard let count = Int(exactly: length) else { throw Self.violation("RDB length out of range") }
            return try self.bytes(count)
        }
        switch length {
        case 0: return ByteBuffer(string: String(Int8(bitPattern: try self.byte())))
        case 1: return ByteBuffer(string: String(try self.littleEndian(Int16.self)))
        case 2: return ByteBuffer(string: String(try self.littleEndian(Int32.self)))
        case 3:
            guard let compressed = Int(exactly: try self.number()), let expanded = Int(exactly: try self.number()) else {
                throw Self.violation("RDB length out of range")
            }
            return try LZF.decompress(try self.bytes(compressed), expandedLength: expanded)
        default: throw Self.violation("unknown RDB string encoding \(length)")
        }
    }

    /// The score of a version-1 sorted set: a one-byte length, then the number as text; 253, 254, 255
    /// stand for NaN, +inf and -inf.
    mutating func textDouble() throws -> Double {
        let length = try self.byte()
        switch length {
        case 253: return .nan
        case 254: return .infinity
        case 255: return -.infinity
        default:
            let text = String(buffer: try self.bytes(Int(length)))
            guard let value = Double(text) else { throw Self.violation("bad sorted-set score \"\(text)\"") }
            return value
        }
    }

    /// An IEEE 754 double, little-endian.
    mutating func binaryDouble() throws -> Double {
        Double(bitPattern: try self.littleEndian(UInt64.self))
    }
}
