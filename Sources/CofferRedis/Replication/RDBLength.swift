import NIOCore

/// The RDB length encoding (reference `redis-replication-and-rdb.md` §4.2), in one place for the walker's two
/// ways of reading: from the chunk in hand without awaiting (nearly always), and byte by byte across chunks.
///
/// The first byte's top two bits say how many bytes follow: `00` a 6-bit length, `01` a 14-bit one, `10` a
/// 32-bit (`0x80`) or 64-bit (`0x81`) big-endian one, `11` a special string encoding in the low 6 bits.
enum RDBLength {
    /// How many bytes a length whose first byte is `first` takes, the first included: 1, 2, 5 or 9.
    static func width(first: UInt8) throws -> Int {
        switch first >> 6 {
        case 0, 3: return 1
        case 1: return 2
        default:
            switch first {
            case 0x80: return 5
            case 0x81: return 9
            default: throw RedisError.protocolViolation("bad RDB length byte \(first)")
            }
        }
    }

    /// The value of a length of ``width(first:)`` bytes; `byte(i)` is its i-th byte after the first.
    static func decode(first: UInt8, byte: (Int) -> UInt8) -> (UInt64, special: Bool) {
        switch first >> 6 {
        case 0: return (UInt64(first & 0x3f), false)
        case 1: return (UInt64(first & 0x3f) << 8 | UInt64(byte(0)), false)
        case 2: return ((0..<(first == 0x80 ? 4 : 8)).reduce(UInt64(0)) { $0 << 8 | UInt64(byte($1)) }, false)
        default: return (UInt64(first & 0x3f), true)
        }
    }

    /// The length at `index` of `buffer` and its width, or nil when the buffer ends first.
    static func peek(_ buffer: ByteBuffer, at index: Int) throws -> (value: UInt64, special: Bool, width: Int)? {
        try RDBBytes.reading(buffer) { try Self.peek($0, at: index) }
    }

    /// Where a string (§4.3) at `index` of `buffer` ends and how its bytes are stored, or nil when the buffer ends first.
    static func peekString(_ buffer: ByteBuffer, at index: Int) throws -> StringExtent? {
        try RDBBytes.reading(buffer) { try Self.peekString($0, at: index) }
    }

    /// ``peek(_:at:)-(ByteBuffer,_)`` over a chunk's bytes.
    @inline(__always)
    static func peek(_ buffer: RDBBytes, at index: Int) throws -> (value: UInt64, special: Bool, width: Int)? {
        guard let first = buffer.byte(at: index) else { return nil }
        let width = try Self.width(first: first)
        guard index + width <= buffer.end else { return nil }
        let (value, special) = Self.decode(first: first) { buffer.byte(at: index + 1 + $0) ?? 0 }
        return (value, special, width)
    }

    /// ``peekString(_:at:)-(ByteBuffer,_)`` over a chunk's bytes.
    @inline(__always)
    static func peekString(_ buffer: RDBBytes, at index: Int) throws -> StringExtent? {
        guard let (length, special, width) = try Self.peek(buffer, at: index) else { return nil }
        let start = index + width
        let extent: StringExtent
        if !special {
            guard let count = Int(exactly: length), count <= buffer.end - start else { return nil }
            extent = StringExtent(end: start + count, form: .plain(start: start, count: count))
        } else {
            switch length {
            case 0, 1, 2:
                let count = 1 << length
                extent = StringExtent(end: start + count, form: .integer(start: start, width: count))
            case 3:
                guard let (compressed, compressedSpecial, compressedWidth) = try Self.peek(buffer, at: start),
                    let (expanded, expandedSpecial, expandedWidth) = try Self.peek(buffer, at: start + compressedWidth)
                else { return nil }
                guard !compressedSpecial, !expandedSpecial, let count = Int(exactly: compressed), let size = Int(exactly: expanded) else {
                    throw RedisError.protocolViolation("malformed LZF string header in the RDB")
                }
                let dataStart = start + compressedWidth + expandedWidth
                guard count <= buffer.end - dataStart else { return nil }
                extent = StringExtent(end: dataStart + count, form: .lzf(start: dataStart, count: count, expanded: size))
            default: throw RedisError.protocolViolation("unknown RDB string encoding \(length)")
            }
        }
        return extent.end <= buffer.end ? extent : nil
    }

    /// A string found in a buffer: where it ends and how to get its bytes.
    struct StringExtent {
        enum Form {
            case plain(start: Int, count: Int)
            /// 1, 2 or 4 bytes, little-endian, signed: the string is its decimal text.
            case integer(start: Int, width: Int)
            case lzf(start: Int, count: Int, expanded: Int)
        }

        var end: Int
        var form: Form

        /// The string's bytes, decoded (a slice of `buffer` when stored plain).
        func bytes(in buffer: ByteBuffer) throws -> ByteBuffer {
            switch self.form {
            case .plain(let start, let count):
                return buffer.getSlice(at: start, length: count) ?? ByteBuffer()
            case .integer(let start, let width):
                let number: Int64 =
                    switch width {
                    case 1: Int64(buffer.getInteger(at: start, as: Int8.self) ?? 0)
                    case 2: Int64(buffer.getInteger(at: start, endianness: .little, as: Int16.self) ?? 0)
                    default: Int64(buffer.getInteger(at: start, endianness: .little, as: Int32.self) ?? 0)
                    }
                return ByteBuffer(string: String(number))
            case .lzf(let start, let count, let expanded):
                return try LZF.decompress(buffer.getSlice(at: start, length: count) ?? ByteBuffer(), expandedLength: expanded)
            }
        }
    }
}
