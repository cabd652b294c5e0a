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
        let start = self.buffer.readerIndex
        let (index, found) = try RDBBytes.reading(self.buffer) { try Self.findBufferedRecord(in: $0, at: start, &walk) }
        self.consumeBuffered(index - start)
        guard let (opcode, key, value) = found,
            let valueBytes = self.buffer.getSlice(at: key.end, length: value.end - key.end)
        else { return nil }
        let record = RDBRecord(
            database: walk.database, key: try key.bytes(in: self.buffer), expiry: walk.expiry, idle: walk.idle, freq: walk.freq,
            type: opcode, value: valueBytes)
        walk.keys[walk.database, default: 0] += 1
        Self.clearQualifiers(&walk)
        self.keysParsed += 1
        self.consumeBuffered(value.end - index)
        return record
    }

    /// Walks over every key record that lies whole in the chunk in hand (a backup's scan keeps nothing of them) and
    /// returns how many it took; the awaiting walk goes on from the first one that does not.
    ///
    /// Why apart from ``nextBufferedRecord(_:)``: a scan of small keys made an ``RDBRecord`` (its key copied) and a
    /// dictionary update per key for nothing; here a key costs the two length peeks and a counter, over the chunk's
    /// bytes read once (``RDBBytes``), and the chunk is consumed once at the end.
    mutating func skipBufferedRecords(_ walk: inout RDBWalk) throws -> Int {
        let start = self.buffer.readerIndex
        let (taken, end) = try RDBBytes.reading(self.buffer) { bytes in
            var index = start
            var taken = 0
            var database = walk.database
            var counted = 0
            while true {
                let (next, found) = try Self.findBufferedRecord(in: bytes, at: index, &walk)
                index = next
                guard let (_, _, value) = found else { break }
                if walk.database != database {
                    if counted > 0 { walk.keys[database, default: 0] += counted }
                    database = walk.database
                    counted = 0
                }
                Self.clearQualifiers(&walk)
                index = value.end
                counted += 1
                taken += 1
            }
            if counted > 0 { walk.keys[database, default: 0] += counted }
            return (taken, index)
        }
        self.keysParsed += taken
        self.consumeBuffered(end - start)
        return taken
    }

    /// A record taken: the opcodes that qualified it (expiry, LRU/LFU) do not carry over to the next.
    @inline(__always)
    private static func clearQualifiers(_ walk: inout RDBWalk) {
        walk.expiry = nil
        walk.idle = nil
        walk.freq = nil
    }

    /// Reads the opcodes before the next key record from `index` (expiry, LRU/LFU, database) into `walk`, and returns
    /// where they end with the record's type, key and value extents when the record lies whole in `bytes`; with nil
    /// when it does not, or when the next item is anything else. The caller consumes up to the returned index (the
    /// opcodes) and, if it takes the record, up to the value's end.
    @inline(__always)
    private static func findBufferedRecord(
        in bytes: RDBBytes, at start: Int, _ walk: inout RDBWalk
    ) throws -> (Int, (UInt8, RDBLength.StringExtent, RDBLength.StringExtent)?) {
        var index = start
        while true {
            guard let opcode = bytes.byte(at: index) else { return (index, nil) }
            switch opcode {
            case 0xFC:  // EXPIRETIME_MS
                guard let milliseconds = bytes.littleEndian(at: index + 1, as: UInt64.self) else { return (index, nil) }
                walk.expiry = Int64(bitPattern: milliseconds)
                index += 9
            case 0xFD:  // EXPIRETIME (seconds)
                guard let seconds = bytes.littleEndian(at: index + 1, as: UInt32.self) else { return (index, nil) }
                walk.expiry = Int64(seconds) * 1000
                index += 5
            case 0xF9:  // FREQ
                guard let freq = bytes.byte(at: index + 1) else { return (index, nil) }
                walk.freq = freq
                index += 2
            case 0xF8, 0xFE:  // IDLE, SELECTDB
                guard let (value, special, width) = try RDBLength.peek(bytes, at: index + 1) else { return (index, nil) }
                guard !special else { throw RedisError.protocolViolation("unexpected string encoding where a length belongs") }
                if opcode == 0xF8 {
                    walk.idle = value
                } else {
                    guard let database = Int(exactly: value) else { throw RedisError.protocolViolation("RDB length out of range") }
                    walk.database = database
                }
                index += 1 + width
            case 0, 9, 10, 11, 12, 13, 16, 17, 20, 23:  // a value stored as one string (as in `skipValue`)
                guard let key = try RDBLength.peekString(bytes, at: index + 1),
                    let value = try RDBLength.peekString(bytes, at: key.end)
                else { return (index, nil) }
                return (index, (opcode, key, value))
            default:
                return (index, nil)
            }
        }
    }
}
