import NIOCore

extension ReplicationSource {
    /// The next key record, read without awaiting anything when it lies whole in the chunk in hand together with
    /// the opcodes before it (expiry, LRU/LFU, database); nil when it does not, or when the next item is anything
    /// else (a function, an AUX field, the end, a value made of several strings). Nothing of a record is consumed
    /// when nil is returned; opcodes already taken stay in `walk`, and the awaiting walk (``nextRDBItem(_:capture:)``)
    /// goes on from there, so both meet the same rules.
    ///
    /// Why: a restore of small keys spends more in the awaiting walk's per-byte calls than in anything else, and
    /// nearly every record is a single string (strings, and the listpack, ziplist and intset forms of small
    /// hashes, sets, sorted sets and lists) far smaller than a chunk.
    mutating func nextBufferedRecord(_ walk: inout RDBWalk) throws -> RDBRecord? {
        guard let (opcode, key, value) = try self.peekBufferedRecord(&walk) else { return nil }
        let index = self.buffer.readerIndex
        guard let valueBytes = self.buffer.getSlice(at: key.end, length: value.end - key.end) else { return nil }
        let record = RDBRecord(
            database: walk.database, key: try key.bytes(in: self.buffer), expiry: walk.expiry, idle: walk.idle, freq: walk.freq,
            type: opcode, value: valueBytes)
        walk.keys[walk.database, default: 0] += 1
        self.takeBufferedRecord(&walk, end: value.end, from: index)
        return record
    }

    /// Walks over every key record that lies whole in the chunk in hand (a backup's scan keeps nothing of them) and
    /// returns how many it took; the awaiting walk goes on from the first one that does not.
    ///
    /// Why apart from ``nextBufferedRecord(_:)``: a scan of small keys made an ``RDBRecord`` (its key copied) and a
    /// dictionary update per key for nothing; here a key costs the two length peeks and a counter.
    mutating func skipBufferedRecords(_ walk: inout RDBWalk) throws -> Int {
        var taken = 0
        var database = walk.database
        var counted = 0
        while let (_, _, value) = try self.peekBufferedRecord(&walk) {
            if walk.database != database {
                if counted > 0 { walk.keys[database, default: 0] += counted }
                database = walk.database
                counted = 0
            }
            self.takeBufferedRecord(&walk, end: value.end, from: self.buffer.readerIndex)
            counted += 1
            taken += 1
        }
        if counted > 0 { walk.keys[database, default: 0] += counted }
        return taken
    }

    /// Consumes the record the last peek found (its opcodes are already consumed) and clears the opcodes that
    /// qualified it.
    @inline(__always)
    private mutating func takeBufferedRecord(_ walk: inout RDBWalk, end: Int, from index: Int) {
        walk.expiry = nil
        walk.idle = nil
        walk.freq = nil
        self.keysParsed += 1
        self.consumeBuffered(end - index)
    }

    /// Consumes the opcodes before the next key record (expiry, LRU/LFU, database) and returns the record's type, key
    /// and value extents when the record lies whole in the chunk in hand; nil when it does not, or when the next item
    /// is anything else. The record itself is not consumed.
    @inline(__always)
    private mutating func peekBufferedRecord(_ walk: inout RDBWalk) throws -> (UInt8, RDBLength.StringExtent, RDBLength.StringExtent)? {
        while true {
            let index = self.buffer.readerIndex
            guard let opcode = self.buffer.getInteger(at: index, as: UInt8.self) else { return nil }
            switch opcode {
            case 0xFC:  // EXPIRETIME_MS
                guard let milliseconds = self.buffer.getInteger(at: index + 1, endianness: .little, as: UInt64.self) else { return nil }
                walk.expiry = Int64(bitPattern: milliseconds)
                self.consumeBuffered(9)
            case 0xFD:  // EXPIRETIME (seconds)
                guard let seconds = self.buffer.getInteger(at: index + 1, endianness: .little, as: UInt32.self) else { return nil }
                walk.expiry = Int64(seconds) * 1000
                self.consumeBuffered(5)
            case 0xF9:  // FREQ
                guard let freq = self.buffer.getInteger(at: index + 1, as: UInt8.self) else { return nil }
                walk.freq = freq
                self.consumeBuffered(2)
            case 0xF8, 0xFE:  // IDLE, SELECTDB
                guard let (value, special, width) = try RDBLength.peek(self.buffer, at: index + 1) else { return nil }
                guard !special else { throw RedisError.protocolViolation("unexpected string encoding where a length belongs") }
                if opcode == 0xF8 {
                    walk.idle = value
                } else {
                    guard let database = Int(exactly: value) else { throw RedisError.protocolViolation("RDB length out of range") }
                    walk.database = database
                }
                self.consumeBuffered(1 + width)
            case 0, 9, 10, 11, 12, 13, 16, 17, 20, 23:  // a value stored as one string (as in `skipValue`)
                guard let key = try RDBLength.peekString(self.buffer, at: index + 1),
                    let value = try RDBLength.peekString(self.buffer, at: key.end)
                else { return nil }
                return (opcode, key, value)
            default:
                return nil
            }
        }
    }
}
