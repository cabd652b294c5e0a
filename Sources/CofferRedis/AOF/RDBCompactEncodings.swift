import NIOCore

/// One element of a listpack or ziplist: bytes, or an integer the encoding packed.
enum PackedElement: Equatable {
    case bytes(ByteBuffer)
    case integer(Int64)

    /// The element as Redis returns it to clients: integers as decimal text.
    var buffer: ByteBuffer {
        switch self {
        case .bytes(let bytes): bytes
        case .integer(let value): ByteBuffer(string: String(value))
        }
    }

    /// The element as an integer (stream metadata is stored as integers; text is accepted too).
    func integer() throws -> Int64 {
        switch self {
        case .integer(let value): return value
        case .bytes(let bytes):
            guard let value = Int64(String(buffer: bytes)) else { throw RedisError.protocolViolation("expected an integer in a packed encoding") }
            return value
        }
    }

    /// The element as a score: text written by Redis' `d2string`, or an integer.
    func double() throws -> Double {
        switch self {
        case .integer(let value): return Double(value)
        case .bytes(let bytes):
            let text = String(buffer: bytes)
            switch text.lowercased() {
            case "inf", "+inf": return .infinity
            case "-inf": return -.infinity
            default:
                guard let value = Double(text) else { throw RedisError.protocolViolation("bad sorted-set score \"\(text)\"") }
                return value
            }
        }
    }
}

/// Decoders for the compact blobs stored as one RDB string: listpack (7.0+), ziplist (≤ 6.2), intset and
/// zipmap (≤ 2.4). Layouts from redis `src/listpack.c`, `ziplist.c`, `intset.c`, `zipmap.c`.
enum CompactEncoding {
    private static func violation(_ what: String) -> RedisError { .protocolViolation("corrupt \(what)") }

    /// Listpack: 4-byte total size, 2-byte count (both LE), entries (encoding, data, back-length), 0xFF.
    static func listpack(_ blob: ByteBuffer) throws -> [PackedElement] {
        var reader = RDBValueReader(blob)
        let total = try reader.littleEndian(UInt32.self)
        _ = try reader.littleEndian(UInt16.self)  // 65535 means "count it"; the terminator is authoritative
        guard total == UInt32(truncatingIfNeeded: blob.readableBytes) else { throw Self.violation("listpack (size field)") }
        var elements: [PackedElement] = []
        while true {
            let first = try reader.byte()
            let element: PackedElement
            let encodedLength: Int
            switch first {
            case 0xFF:
                guard reader.isAtEnd else { throw Self.violation("listpack (bytes after the end)") }
                return elements
            case 0x00...0x7F:
                element = .integer(Int64(first))
                encodedLength = 1
            case 0x80...0xBF:
                let length = Int(first & 0x3f)
                element = .bytes(try reader.bytes(length))
                encodedLength = 1 + length
            case 0xC0...0xDF:
                let raw = Int64(first & 0x1f) << 8 | Int64(try reader.byte())
                element = .integer(raw >= 1 << 12 ? raw - (1 << 13) : raw)
                encodedLength = 2
            case 0xE0...0xEF:
                let length = Int(first & 0x0f) << 8 | Int(try reader.byte())
                element = .bytes(try reader.bytes(length))
                encodedLength = 2 + length
            case 0xF0:
                let length = Int(try reader.littleEndian(UInt32.self))
                element = .bytes(try reader.bytes(length))
                encodedLength = 5 + length
            case 0xF1:
                element = .integer(Int64(try reader.littleEndian(Int16.self)))
                encodedLength = 3
            case 0xF2:
                let raw = Int64(try reader.littleEndian(UInt16.self)) | Int64(try reader.byte()) << 16
                element = .integer(raw >= 1 << 23 ? raw - (1 << 24) : raw)
                encodedLength = 4
            case 0xF3:
                element = .integer(Int64(try reader.littleEndian(Int32.self)))
                encodedLength = 5
            case 0xF4:
                element = .integer(try reader.littleEndian(Int64.self))
                encodedLength = 9
            default: throw Self.violation("listpack (encoding byte \(first))")
            }
            // The back-length: 7 bits per byte, as many bytes as the entry's size needs.
            _ = try reader.bytes(Self.backLengthSize(encodedLength))
            elements.append(element)
        }
    }

    /// The size of a listpack entry's back-length (`lpEncodeBacklen`).
    private static func backLengthSize(_ length: Int) -> Int {
        switch length {
        case ...127: 1
        case ..<16383: 2
        case ..<2_097_151: 3
        case ..<268_435_455: 4
        default: 5
        }
    }

    /// Ziplist: 4-byte size, 4-byte tail offset, 2-byte count (LE), entries (previous length, encoding,
    /// data), 0xFF.
    static func ziplist(_ blob: ByteBuffer) throws -> [PackedElement] {
        var reader = RDBValueReader(blob)
        let total = try reader.littleEndian(UInt32.self)
        _ = try reader.littleEndian(UInt32.self)
        _ = try reader.littleEndian(UInt16.self)
        guard total == UInt32(truncatingIfNeeded: blob.readableBytes) else { throw Self.violation("ziplist (size field)") }
        var elements: [PackedElement] = []
        while true {
            let previous = try reader.byte()
            if previous == 0xFF {
                guard reader.isAtEnd else { throw Self.violation("ziplist (bytes after the end)") }
                return elements
            }
            if previous == 0xFE { _ = try reader.littleEndian(UInt32.self) }
            let encoding = try reader.byte()
            switch encoding >> 6 {
            case 0: elements.append(.bytes(try reader.bytes(Int(encoding & 0x3f))))
            case 1: elements.append(.bytes(try reader.bytes(Int(encoding & 0x3f) << 8 | Int(try reader.byte()))))
            case 2:
                guard encoding == 0x80 else { throw Self.violation("ziplist (encoding byte \(encoding))") }
                elements.append(.bytes(try reader.bytes(Int(try reader.bigEndian(UInt32.self)))))
            default:
                switch encoding {
                case 0xC0: elements.append(.integer(Int64(try reader.littleEndian(Int16.self))))
                case 0xD0: elements.append(.integer(Int64(try reader.littleEndian(Int32.self))))
                case 0xE0: elements.append(.integer(try reader.littleEndian(Int64.self)))
                case 0xF0:
                    let raw = Int64(try reader.littleEndian(UInt16.self)) | Int64(try reader.byte()) << 16
                    elements.append(.integer(raw >= 1 << 23 ? raw - (1 << 24) : raw))
                case 0xFE: elements.append(.integer(Int64(Int8(bitPattern: try reader.byte()))))
                case 0xF1...0xFD: elements.append(.integer(Int64(encoding & 0x0f) - 1))
                default: throw Self.violation("ziplist (encoding byte \(encoding))")
                }
            }
        }
    }

    /// Intset: 4-byte element width (2, 4 or 8), 4-byte count, then signed integers, all LE.
    static func intset(_ blob: ByteBuffer) throws -> [ByteBuffer] {
        var reader = RDBValueReader(blob)
        let width = try reader.littleEndian(UInt32.self)
        let count = Int(try reader.littleEndian(UInt32.self))
        guard [2, 4, 8].contains(width), count * Int(width) == reader.buffer.readableBytes else { throw Self.violation("intset") }
        var members: [ByteBuffer] = []
        members.reserveCapacity(count)
        for _ in 0..<count {
            let value: Int64
            switch width {
            case 2: value = Int64(try reader.littleEndian(Int16.self))
            case 4: value = Int64(try reader.littleEndian(Int32.self))
            default: value = try reader.littleEndian(Int64.self)
            }
            members.append(ByteBuffer(string: String(value)))
        }
        return members
    }

    /// Zipmap (hashes before 2.6): 1-byte count, then (length, key, length, free, value, free bytes)…,
    /// 0xFF. A length below 254 is one byte; 254 is followed by a 4-byte length.
    static func zipmap(_ blob: ByteBuffer) throws -> [RDBHashField] {
        var reader = RDBValueReader(blob)
        _ = try reader.byte()
        func length() throws -> Int? {
            let first = try reader.byte()
            switch first {
            case 0xFF: return nil
            case 0xFE: return Int(try reader.littleEndian(UInt32.self))
            default: return Int(first)
            }
        }
        var fields: [RDBHashField] = []
        while let keyLength = try length() {
            let field = try reader.bytes(keyLength)
            guard let valueLength = try length() else { throw Self.violation("zipmap (field without value)") }
            let free = Int(try reader.byte())
            let value = try reader.bytes(valueLength)
            _ = try reader.bytes(free)
            fields.append(RDBHashField(field: field, value: value))
        }
        guard reader.isAtEnd else { throw Self.violation("zipmap (bytes after the end)") }
        return fields
    }
}
