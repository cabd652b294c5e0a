import NIOCore

/// Decodes stream values (types 15, 19, 21; reference §4.6 and redis `src/t_stream.c`).
///
/// Entries live in listpacks keyed by a master ID. Each listpack opens with a master entry — count of live
/// entries, count of deleted ones, the master field names, a 0 terminator — and then holds entries as
/// flags, ms and seq differences from the master ID, either just values (flag SAMEFIELDS: the master's
/// fields) or a field count and field/value pairs, and a trailing element count used to walk backwards.
/// Entries flagged DELETED are tombstones left by XDEL and are skipped.
enum RDBStreamDecoder {
    private static let deletedFlag: Int64 = 1
    private static let sameFieldsFlag: Int64 = 2

    static func decode(_ reader: inout RDBValueReader, version: Int) throws -> RDBStream {
        var entries: [RDBStream.Entry] = []
        for _ in 0..<(try reader.count()) {
            var key = try reader.string()
            guard key.readableBytes == 16, let ms = key.readInteger(endianness: .big, as: UInt64.self),
                let seq = key.readInteger(endianness: .big, as: UInt64.self)
            else { throw RedisError.protocolViolation("stream node key is not a 128-bit ID") }
            entries += try Self.entries(CompactEncoding.listpack(try reader.string()), master: RDBStream.ID(milliseconds: ms, sequence: seq))
        }
        let length = try reader.number()
        let lastID = RDBStream.ID(milliseconds: try reader.number(), sequence: try reader.number())
        var firstID: RDBStream.ID?
        var maxDeletedID: RDBStream.ID?
        var entriesAdded: UInt64?
        if version >= 2 {
            firstID = RDBStream.ID(milliseconds: try reader.number(), sequence: try reader.number())
            maxDeletedID = RDBStream.ID(milliseconds: try reader.number(), sequence: try reader.number())
            entriesAdded = try reader.number()
        }
        var groups: [RDBStream.Group] = []
        for _ in 0..<(try reader.count()) {
            let name = try reader.string()
            let lastDelivered = RDBStream.ID(milliseconds: try reader.number(), sequence: try reader.number())
            var entriesRead: Int64?
            if version >= 2 {
                // -1 ("unknown") is saved as an unsigned length, 2^64-1.
                let raw = try reader.number()
                if raw != UInt64.max {
                    guard let read = Int64(exactly: raw) else { throw RedisError.protocolViolation("stream group entries-read out of range") }
                    entriesRead = read
                }
            }
            var pending: [RDBStream.PendingEntry] = []
            for _ in 0..<(try reader.count()) {
                let id = try Self.rawID(&reader)
                let time = try reader.littleEndian(Int64.self)
                pending.append(RDBStream.PendingEntry(id: id, deliveryTime: time, deliveryCount: try reader.number()))
            }
            var consumers: [RDBStream.Consumer] = []
            for _ in 0..<(try reader.count()) {
                let consumerName = try reader.string()
                let seen = try reader.littleEndian(Int64.self)
                let active = version >= 3 ? try reader.littleEndian(Int64.self) : nil
                var owned: [RDBStream.ID] = []
                for _ in 0..<(try reader.count()) { owned.append(try Self.rawID(&reader)) }
                consumers.append(RDBStream.Consumer(name: consumerName, seenTime: seen, activeTime: active, pending: owned))
            }
            groups.append(
                RDBStream.Group(name: name, lastDeliveredID: lastDelivered, entriesRead: entriesRead, pending: pending, consumers: consumers))
        }
        return RDBStream(
            entries: entries, length: length, lastID: lastID, firstID: firstID, maxDeletedID: maxDeletedID, entriesAdded: entriesAdded,
            groups: groups)
    }

    /// A 128-bit ID as stored in PELs: ms then seq, big-endian.
    private static func rawID(_ reader: inout RDBValueReader) throws -> RDBStream.ID {
        RDBStream.ID(milliseconds: try reader.bigEndian(UInt64.self), sequence: try reader.bigEndian(UInt64.self))
    }

    /// The live entries of one listpack node.
    private static func entries(_ elements: [PackedElement], master: RDBStream.ID) throws -> [RDBStream.Entry] {
        var cursor = elements.makeIterator()
        func next() throws -> PackedElement {
            guard let element = cursor.next() else { throw RedisError.protocolViolation("stream listpack ends inside an entry") }
            return element
        }
        func count() throws -> Int {
            guard let value = Int(exactly: try next().integer()), value >= 0, value <= elements.count else {
                throw RedisError.protocolViolation("bad count in a stream listpack")
            }
            return value
        }
        _ = try next()  // live entries
        _ = try next()  // deleted entries
        let masterFieldCount = try count()
        var masterFields: [ByteBuffer] = []
        for _ in 0..<masterFieldCount { masterFields.append(try next().buffer) }
        guard try next().integer() == 0 else { throw RedisError.protocolViolation("stream master entry without its terminator") }
        var entries: [RDBStream.Entry] = []
        while let flagsElement = cursor.next() {
            let flags = try flagsElement.integer()
            let id = RDBStream.ID(
                milliseconds: master.milliseconds &+ UInt64(bitPattern: try next().integer()),
                sequence: master.sequence &+ UInt64(bitPattern: try next().integer()))
            var fieldsAndValues: [ByteBuffer] = []
            if flags & Self.sameFieldsFlag != 0 {
                for field in masterFields {
                    fieldsAndValues.append(field)
                    fieldsAndValues.append(try next().buffer)
                }
            } else {
                for _ in 0..<(try count()) {
                    fieldsAndValues.append(try next().buffer)
                    fieldsAndValues.append(try next().buffer)
                }
            }
            _ = try next()  // the entry's element count, for backward iteration
            if flags & Self.deletedFlag == 0 {
                entries.append(RDBStream.Entry(id: id, fieldsAndValues: fieldsAndValues))
            }
        }
        return entries
    }
}
