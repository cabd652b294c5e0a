import NIOCore

/// Why a restore stream stopped, with the key and type named (printable, escaped) so the record says which.
package enum RestoreWriteError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The target answered an error to one command (`RESTORE`, `FUNCTION LOAD`, `SELECT`).
    case refused(what: String, reply: String)
    /// `BUSYKEY` after `FLUSHALL`: something else wrote the key meanwhile, so the fence did not hold.
    case fenceLeaked(what: String)
    /// The record's type is newer than the target understands (downgrade rule, `restore.md` §2).
    case unknownType(key: String, type: UInt8, target: RestoreTarget)

    package var description: String {
        switch self {
        case .refused(let what, let reply): "the target refused \(what): \(reply)"
        case .fenceLeaked(let what): "\(what) already existed after FLUSHALL: another client wrote during the restore"
        case .unknownType(let key, let type, let target):
            "key \"\(key)\" has RDB type \(type), which the target (RDB version \(target.rdbVersion), types up to \(target.highestType)) cannot load"
        }
    }
}

/// What a restore stream wrote.
package struct RestoreWriteSummary: Sendable, Equatable {
    package var keys = 0
    package var functions = 0
    /// Keys whose deadline had passed: not written, as Redis itself drops them on load.
    package var expiredSkipped = 0
    package var bytesRead: Int64 = 0

    package init() {}
}

/// Writes every record of an RDB into a Redis as pipelined `RESTORE key ttl payload ABSTTL [IDLETIME s | FREQ f]`
/// (no `REPLACE`: the caller flushed the target first, so `BUSYKEY` means the fence leaked), `SELECT` when the
/// database changes, and `FUNCTION LOAD` for each function library.
///
/// Window: commands go out in batches of at most `batchCommands` commands or `batchBytes` bytes (a single larger
/// value makes a batch of its own), and at most two batches are unanswered, so the server always has the next batch
/// while the previous replies are read: ≤ 2 × 512 commands and ≤ 2 × 4 MiB in flight by default. Every reply is
/// checked; the first error ends the stream.
package struct RestoreWriter {
    let connection: RedisConnection
    let target: RestoreTarget
    let batchCommands: Int
    let batchBytes: Int
    /// Bound for each write and for each batch's replies.
    let timeout: Duration

    package init(connection: RedisConnection, target: RestoreTarget, batchCommands: Int = 512, batchBytes: Int = 4 << 20, timeout: Duration = .seconds(60)) {
        self.connection = connection
        self.target = target
        self.batchCommands = max(1, batchCommands)
        self.batchBytes = max(1024, batchBytes)
        self.timeout = timeout
    }

    /// Streams `reader` into the target.
    /// - Parameters:
    ///   - nowMilliseconds: the current Unix time in ms; a record whose deadline is not after it is skipped.
    ///   - progress: called after each batch with the bytes of the RDB read so far.
    package func write(
        from reader: inout RDBRecordReader, nowMilliseconds: () -> Int64, progress: (Int64) async -> Void
    ) async throws -> RestoreWriteSummary {
        var summary = RestoreWriteSummary()
        var batch = Batch()
        var unanswered: Batch?
        var database: Int?
        while let item = try await reader.next() {
            switch item {
            case .function(let source):
                batch.append(["FUNCTION".buffer, "LOAD".buffer, source], what: "function library \(Self.libraryName(source))")
                summary.functions += 1
            case .record(let record):
                if let expiry = record.expiry, expiry <= nowMilliseconds() {
                    summary.expiredSkipped += 1
                    continue
                }
                guard self.target.knows(type: record.type) else {
                    throw RestoreWriteError.unknownType(key: record.printableKey, type: record.type, target: self.target)
                }
                if record.database != database {
                    batch.append(["SELECT".buffer, String(record.database).buffer], what: "SELECT \(record.database)")
                    database = record.database
                }
                let version = min(reader.version ?? self.target.rdbVersion, self.target.rdbVersion)
                batch.appendRestore(record, version: version)
                summary.keys += 1
            }
            if batch.commands >= self.batchCommands || batch.buffer.readableBytes >= self.batchBytes {
                try await self.send(&batch, after: &unanswered)
                await progress(reader.bytesRead)
            }
        }
        try await self.send(&batch, after: &unanswered)
        if let last = unanswered { try await self.check(last) }
        summary.bytesRead = reader.bytesRead
        await progress(reader.bytesRead)
        return summary
    }

    /// Sends `batch`, then reads the replies of the batch before it: two batches in flight at most.
    private func send(_ batch: inout Batch, after unanswered: inout Batch?) async throws {
        guard batch.commands > 0 else { return }
        try await self.connection.streamSend(batch.buffer, timeout: self.timeout)
        if let previous = unanswered { try await self.check(previous) }
        unanswered = Batch(commands: batch.commands, what: batch.what)
        batch = Batch()
    }

    private func check(_ batch: Batch) async throws {
        let replies = try await self.connection.streamReceive(batch.commands, timeout: self.timeout)
        for (index, reply) in replies.enumerated() {
            guard let message = reply.errorMessage else { continue }
            let what = index < batch.what.count ? batch.what[index] : "a command"
            if message.hasPrefix("BUSYKEY") { throw RestoreWriteError.fenceLeaked(what: what) }
            throw RestoreWriteError.refused(what: what, reply: String(message.prefix(200)))
        }
    }

    /// The library name from `#!lua name=<name>` for messages.
    static func libraryName(_ source: ByteBuffer) -> String {
        let firstLine = source.readableBytesView.prefix(256).prefix { $0 != UInt8(ascii: "\n") }
        let text = String(decoding: firstLine, as: UTF8.self)
        guard let token = text.split(separator: " ").first(where: { $0.hasPrefix("name=") }) else { return "(unnamed)" }
        return RDBRecord.printable(ByteBuffer(string: String(token.dropFirst(5))))
    }

    /// Encoded commands and, for each, what to name when it is refused.
    struct Batch {
        var buffer = ByteBuffer()
        var commands = 0
        var what: [String] = []

        init() {}
        init(commands: Int, what: [String]) {
            self.commands = commands
            self.what = what
        }

        mutating func append(_ arguments: [ByteBuffer], what: String) {
            RESPEncoder().encode(arguments, into: &self.buffer)
            self.commands += 1
            self.what.append(what)
        }

        /// `RESTORE key ttl payload [ABSTTL] [IDLETIME s | FREQ f]`, the payload built in place.
        mutating func appendRestore(_ record: RDBRecord, version: Int) {
            var tail: [String] = []
            if record.expiry != nil { tail.append("ABSTTL") }
            if let idle = record.idle {
                tail += ["IDLETIME", String(idle)]
            } else if let freq = record.freq {
                tail += ["FREQ", String(freq)]
            }
            let ttl = String(record.expiry ?? 0)
            self.buffer.writeString("*\(4 + tail.count)\r\n$7\r\nRESTORE\r\n$\(record.key.readableBytes)\r\n")
            self.buffer.writeImmutableBuffer(record.key)
            self.buffer.writeString("\r\n$\(ttl.utf8.count)\r\n\(ttl)\r\n$\(DumpPayload.length(valueLength: record.value.readableBytes))\r\n")
            DumpPayload.write(type: record.type, value: record.value, version: version, into: &self.buffer)
            self.buffer.writeString("\r\n")
            for argument in tail { self.buffer.writeString("$\(argument.utf8.count)\r\n\(argument)\r\n") }
            self.commands += 1
            self.what.append("key \"\(record.printableKey)\" (type \(record.type))")
        }
    }
}

extension String {
    fileprivate var buffer: ByteBuffer { ByteBuffer(string: self) }
}
