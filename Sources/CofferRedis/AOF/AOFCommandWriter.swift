import NIOCore

/// Writes an AOF file — a plain stream of RESP commands — that rebuilds a dataset key by key, from the
/// records an RDB holds.
///
/// The commands are the ones Redis' own AOF rewrite emits (`aof.c`, `rewriteAppendOnlyFile`): `SELECT` on
/// each database switch, `SET`, `RPUSH`, `SADD`, `ZADD`, `HSET` in batches of at most
/// ``maxElementsPerCommand`` elements (so a huge key never becomes one giant command), streams as `XADD`
/// per entry, `XSETID`, `XGROUP CREATE`, `XCLAIM … TIME … RETRYCOUNT … JUSTID FORCE` per pending entry and
/// `XGROUP CREATECONSUMER` for consumers without any, `PEXPIREAT` for TTLs, and `FUNCTION LOAD REPLACE`
/// for function libraries. Keys are not deleted first: like any AOF, the file expects an empty server.
///
/// Output goes to `sink` in chunks of about `flushThreshold` bytes, so memory stays bounded by one
/// decoded record plus one chunk, whatever the dataset size.
package struct AOFCommandWriter {
    /// Elements (or pairs) per `RPUSH`/`SADD`/`ZADD`/`HSET`.
    package static let maxElementsPerCommand = 512

    private let sink: @Sendable (ByteBuffer) async throws -> Void
    private let flushThreshold: Int
    private var buffer = ByteBuffer()
    private var database: Int?
    private let encoder = RESPEncoder()

    /// - Parameters:
    ///   - flushThreshold: bytes collected before they are handed to `sink`.
    ///   - sink: receives the file's bytes in order.
    package init(flushThreshold: Int = 64 * 1024, sink: @escaping @Sendable (ByteBuffer) async throws -> Void) {
        self.flushThreshold = max(1, flushThreshold)
        self.sink = sink
    }

    /// Writes `FUNCTION LOAD REPLACE <source>` for one library (an RDB `FUNCTION2` record).
    package mutating func writeFunction(source: ByteBuffer) async throws {
        try await self.command([ByteBuffer(string: "FUNCTION"), ByteBuffer(string: "LOAD"), ByteBuffer(string: "REPLACE"), source])
    }

    /// Decodes one RDB record's value and writes the commands that rebuild the key.
    /// - Parameters:
    ///   - database: the record's database.
    ///   - key: the key's bytes.
    ///   - expiry: absolute Unix time in ms, or `nil` for no TTL.
    ///   - type: the RDB type byte.
    ///   - value: the value's raw RDB encoding (a `DUMP` body without its 10-byte trailer).
    /// - Throws: ``RedisError/protocolViolation(_:)`` naming the key and the type when the value cannot be
    ///   decoded; errors from the sink.
    package mutating func writeRecord(database: Int, key: ByteBuffer, expiry: Int64?, type: UInt8, value: ByteBuffer) async throws {
        let decoded: RDBValue
        do {
            decoded = try RDBValueDecoder.decode(type: type, value: value)
        } catch let RedisError.protocolViolation(detail) {
            throw RedisError.protocolViolation("key \"\(String(decoding: key.readableBytesView, as: UTF8.self))\" in database \(database): \(detail)")
        }
        try await self.write(database: database, key: key, expiry: expiry, value: decoded)
    }

    /// Writes the commands that rebuild one decoded key.
    package mutating func write(database: Int, key: ByteBuffer, expiry: Int64?, value: RDBValue) async throws {
        if self.database != database {
            try await self.command(["SELECT", String(database)].map { ByteBuffer(string: $0) })
            self.database = database
        }
        switch value {
        case .string(let bytes): try await self.command([ByteBuffer(string: "SET"), key, bytes])
        case .list(let elements): try await self.batched("RPUSH", key: key, elements.map { [$0] })
        case .set(let members): try await self.batched("SADD", key: key, members.map { [$0] })
        case .hash(let fields): try await self.batched("HSET", key: key, fields.map { [$0.field, $0.value] })
        case .sortedSet(let members):
            try await self.batched(
                "ZADD", key: key,
                try members.map {
                    guard !$0.score.isNaN else { throw RedisError.protocolViolation("a sorted-set member has a NaN score") }
                    return [ByteBuffer(string: Self.score($0.score)), $0.member]
                })
        case .stream(let stream): try await self.writeStream(key: key, stream)
        }
        if let expiry {
            try await self.command([ByteBuffer(string: "PEXPIREAT"), key, ByteBuffer(string: String(expiry))])
        }
    }

    /// Hands everything written so far to the sink. Call once after the last record.
    package mutating func finish() async throws {
        if self.buffer.readableBytes > 0 {
            let chunk = self.buffer
            self.buffer = ByteBuffer()
            try await self.sink(chunk)
        }
    }

    /// A score that parses back to the same double: Swift prints the shortest text that round-trips
    /// (like `%.17g`, but shorter), `inf` and `-inf` for the infinities; strtod reads all of them.
    static func score(_ value: Double) -> String {
        let text = value.description
        return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
    }

    private mutating func batched(_ name: String, key: ByteBuffer, _ items: [[ByteBuffer]]) async throws {
        for start in stride(from: 0, to: items.count, by: Self.maxElementsPerCommand) {
            var arguments = [ByteBuffer(string: name), key]
            for item in items[start..<min(start + Self.maxElementsPerCommand, items.count)] { arguments += item }
            try await self.command(arguments)
        }
    }

    /// Streams as Redis' AOF rewrite (`rewriteStreamObject`) writes them, with one repair: `XCLAIM` ignores
    /// IDs whose entry was deleted (XDEL, XTRIM) since 7.0, so Redis' own rewrite drops those pending
    /// entries. Here each such ID is added as a placeholder entry in ID order, claimed, then deleted with
    /// `XDEL` (which leaves PELs alone), and `XSETID` is repeated to put back the counters XDEL moved.
    /// Version 1 streams (no entries-added, max-deleted ID or entries-read) get the pre-7.0 forms of
    /// `XSETID` and `XGROUP CREATE`, so they load into 5.0+.
    private mutating func writeStream(key: ByteBuffer, _ stream: RDBStream) async throws {
        func bytes(_ strings: String...) -> [ByteBuffer] { strings.map { ByteBuffer(string: $0) } }
        let live = Set(stream.entries.map(\.id))
        let placeholders = Set(stream.groups.flatMap { $0.pending.map(\.id) }).subtracting(live).sorted()
        if stream.entries.isEmpty && placeholders.isEmpty {
            // An empty stream exists only as a key; XADD then trimming to nothing creates one.
            try await self.command([ByteBuffer(string: "XADD"), key] + bytes("MAXLEN", "0", "0-1", "x", "y"))
        }
        var nextPlaceholder = placeholders.makeIterator()
        var placeholder = nextPlaceholder.next()
        for entry in stream.entries {
            while let id = placeholder, id < entry.id {
                try await self.command([ByteBuffer(string: "XADD"), key, ByteBuffer(string: id.description)] + bytes("x", "y"))
                placeholder = nextPlaceholder.next()
            }
            try await self.command([ByteBuffer(string: "XADD"), key, ByteBuffer(string: entry.id.description)] + entry.fieldsAndValues)
        }
        while let id = placeholder {
            try await self.command([ByteBuffer(string: "XADD"), key, ByteBuffer(string: id.description)] + bytes("x", "y"))
            placeholder = nextPlaceholder.next()
        }
        var setID = [ByteBuffer(string: "XSETID"), key, ByteBuffer(string: stream.lastID.description)]
        if let added = stream.entriesAdded, let maxDeleted = stream.maxDeletedID {
            setID += bytes("ENTRIESADDED", String(added), "MAXDELETEDID", maxDeleted.description)
        }
        try await self.command(setID)
        for group in stream.groups {
            var create = [ByteBuffer(string: "XGROUP"), ByteBuffer(string: "CREATE"), key, group.name, ByteBuffer(string: group.lastDeliveredID.description)]
            if stream.entriesAdded != nil {
                create += bytes("ENTRIESREAD", String(group.entriesRead ?? -1))
            }
            try await self.command(create)
            let pending = Dictionary(group.pending.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
            for consumer in group.consumers {
                if consumer.pending.isEmpty {
                    try await self.command([ByteBuffer(string: "XGROUP"), ByteBuffer(string: "CREATECONSUMER"), key, group.name, consumer.name])
                }
                for id in consumer.pending {
                    guard let entry = pending[id] else {
                        throw RedisError.protocolViolation("consumer owns pending entry \(id), which its group's PEL lacks")
                    }
                    try await self.command(
                        [ByteBuffer(string: "XCLAIM"), key, group.name, consumer.name]
                            + bytes("0", id.description, "TIME", String(entry.deliveryTime), "RETRYCOUNT", String(entry.deliveryCount), "JUSTID", "FORCE"))
                }
            }
        }
        if !placeholders.isEmpty {
            for start in stride(from: 0, to: placeholders.count, by: Self.maxElementsPerCommand) {
                let ids = placeholders[start..<min(start + Self.maxElementsPerCommand, placeholders.count)]
                try await self.command([ByteBuffer(string: "XDEL"), key] + ids.map { ByteBuffer(string: $0.description) })
            }
            try await self.command(setID)
        }
    }

    private mutating func command(_ arguments: [ByteBuffer]) async throws {
        self.encoder.encode(arguments, into: &self.buffer)
        if self.buffer.readableBytes >= self.flushThreshold {
            try await self.finish()
        }
    }
}
