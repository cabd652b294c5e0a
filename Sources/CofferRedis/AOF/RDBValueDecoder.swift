import NIOCore

/// Decodes one key's value from its RDB encoding: the type byte and the bytes after the key in an RDB
/// record, which are also a `DUMP` payload without its 2-byte version and 8-byte CRC trailer.
///
/// It reads every type and encoding Redis 7.0–7.2 writes, and the older ones those servers still load
/// (reference `redis-replication-and-rdb.md` §4.5–§4.6). Decoding is what an AOF backup and a restore
/// into an older server need; a same-version restore copies the bytes without it.
package enum RDBValueDecoder {
    /// A human name for a type byte, for error messages.
    package static func typeName(_ type: UInt8) -> String {
        switch type {
        case 0: "string"
        case 1: "list (linked list)"
        case 2: "set (hash table)"
        case 3: "sorted set (version 1)"
        case 4: "hash (hash table)"
        case 5: "sorted set (skiplist)"
        case 6, 7: "module value"
        case 9: "hash (zipmap)"
        case 10: "list (ziplist)"
        case 11: "set (intset)"
        case 12: "sorted set (ziplist)"
        case 13: "hash (ziplist)"
        case 14: "list (quicklist)"
        case 15: "stream (version 1)"
        case 16: "hash (listpack)"
        case 17: "sorted set (listpack)"
        case 18: "list (quicklist 2)"
        case 19: "stream (version 2)"
        case 20: "set (listpack)"
        case 21: "stream (version 3)"
        case 22, 23, 24, 25: "hash with field expirations (Redis 7.4+)"
        default: "unknown"
        }
    }

    /// Decodes `value`, which must hold exactly one value of `type`.
    /// - Throws: ``RedisError/protocolViolation(_:)`` for a type it cannot decode (naming it), for corrupt
    ///   bytes, and for bytes left over after the value.
    package static func decode(type: UInt8, value: ByteBuffer) throws -> RDBValue {
        var reader = RDBValueReader(value)
        let decoded: RDBValue
        switch type {
        case 0: decoded = .string(try reader.string())
        case 1: decoded = .list(try Self.strings(&reader))
        case 2: decoded = .set(try Self.strings(&reader))
        case 3, 5:
            var members: [RDBScoredMember] = []
            for _ in 0..<(try reader.count()) {
                let member = try reader.string()
                members.append(RDBScoredMember(member: member, score: type == 3 ? try reader.textDouble() : try reader.binaryDouble()))
            }
            decoded = .sortedSet(members)
        case 4:
            var fields: [RDBHashField] = []
            for _ in 0..<(try reader.count()) {
                let field = try reader.string()
                fields.append(RDBHashField(field: field, value: try reader.string()))
            }
            decoded = .hash(fields)
        case 9: decoded = .hash(try CompactEncoding.zipmap(try reader.string()))
        case 10: decoded = .list(try CompactEncoding.ziplist(try reader.string()).map(\.buffer))
        case 11: decoded = .set(try CompactEncoding.intset(try reader.string()))
        case 12, 17:
            let blob = try reader.string()
            let elements = type == 12 ? try CompactEncoding.ziplist(blob) : try CompactEncoding.listpack(blob)
            decoded = .sortedSet(try Self.pairs(elements).map { RDBScoredMember(member: $0.buffer, score: try $1.double()) })
        case 13, 16:
            let blob = try reader.string()
            let elements = type == 13 ? try CompactEncoding.ziplist(blob) : try CompactEncoding.listpack(blob)
            decoded = .hash(try Self.pairs(elements).map { RDBHashField(field: $0.buffer, value: $1.buffer) })
        case 14:
            var elements: [ByteBuffer] = []
            for _ in 0..<(try reader.count()) { elements += try CompactEncoding.ziplist(try reader.string()).map(\.buffer) }
            decoded = .list(elements)
        case 18:
            var elements: [ByteBuffer] = []
            for _ in 0..<(try reader.count()) {
                switch try reader.number() {
                case 1: elements.append(try reader.string())  // plain node: one large element
                case 2: elements += try CompactEncoding.listpack(try reader.string()).map(\.buffer)
                case let other: throw RedisError.protocolViolation("unknown quicklist container \(other)")
                }
            }
            decoded = .list(elements)
        case 20: decoded = .set(try CompactEncoding.listpack(try reader.string()).map(\.buffer))
        case 15: decoded = .stream(try RDBStreamDecoder.decode(&reader, version: 1))
        case 19: decoded = .stream(try RDBStreamDecoder.decode(&reader, version: 2))
        case 21: decoded = .stream(try RDBStreamDecoder.decode(&reader, version: 3))
        default:
            throw RedisError.protocolViolation(
                "RDB value type \(type) (\(Self.typeName(type))) cannot be turned into commands")
        }
        guard reader.isAtEnd else {
            throw RedisError.protocolViolation("\(reader.buffer.readableBytes) bytes follow the RDB value of type \(type)")
        }
        return decoded
    }

    private static func strings(_ reader: inout RDBValueReader) throws -> [ByteBuffer] {
        let count = try reader.count()
        var elements: [ByteBuffer] = []
        elements.reserveCapacity(count)
        for _ in 0..<count { elements.append(try reader.string()) }
        return elements
    }

    /// Consecutive pairs of a packed encoding (member, score or field, value).
    private static func pairs(_ elements: [PackedElement]) throws -> [(PackedElement, PackedElement)] {
        guard elements.count % 2 == 0 else { throw RedisError.protocolViolation("odd number of elements in a packed pair encoding") }
        return stride(from: 0, to: elements.count, by: 2).map { (elements[$0], elements[$0 + 1]) }
    }
}
