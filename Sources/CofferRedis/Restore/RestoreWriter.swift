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
/// (no `REPLACE`: the caller flushed the target first, so `BUSYKEY` means the fence leaked), or `SET key value NX
/// [PXAT deadline]` for plain strings (the same result, cheaper: ``Batch/appendSet(_:absoluteDeadlines:)``), `SELECT` when the
/// database changes, and `FUNCTION LOAD` for each function library.
///
/// Window: commands go out in batches of at most `batchCommands` commands or `batchBytes` bytes (a single larger
/// value makes a batch of its own). A second task reads and checks the replies while batches are still being made
/// and sent, and at most `batchesInFlight` batches, and `batchesInFlight × batchBytes` bytes unless one batch alone
/// is larger, are unanswered at any time: by default ≤ 8 × 1,024 commands and ≤ 8 MiB. So the server never waits
/// for the client's round trip, nor the client for the server's, and memory stays flat. Every reply is checked;
/// the first error ends the stream.
package struct RestoreWriter: Sendable {
    let connection: RedisConnection
    let target: RestoreTarget
    let batchCommands: Int
    let batchBytes: Int
    let batchesInFlight: Int
    /// Keys per `MSETNX` (1: each string its own `SET … NX`). Keys of one `MSETNX` must share a hash slot on a
    /// Redis Cluster, so a writer into a cluster node passes 1.
    let stringsPerCommand: Int
    /// Bound for each write and for each batch's replies.
    let timeout: Duration
    /// False for a Redis Cluster node, which has database 0 only: no `SELECT` is sent and every record lands in
    /// database 0, whatever database it came from.
    let keepsDatabases: Bool
    /// Follows `MOVED`/`ASK` replies (a cluster node); nil refuses them like any other error.
    let redirect: RestoreRedirectHandler?

    package init(
        connection: RedisConnection, target: RestoreTarget, batchCommands: Int = 1024, batchBytes: Int = 1 << 20, batchesInFlight: Int = 8,
        stringsPerCommand: Int = 128, timeout: Duration = .seconds(60), keepsDatabases: Bool = true, redirect: RestoreRedirectHandler? = nil
    ) {
        self.keepsDatabases = keepsDatabases
        self.redirect = redirect
        self.connection = connection
        self.target = target
        self.batchCommands = max(1, batchCommands)
        self.batchBytes = max(1024, batchBytes)
        self.batchesInFlight = max(1, batchesInFlight)
        self.stringsPerCommand = max(1, stringsPerCommand)
        self.timeout = timeout
    }

    /// Streams `reader` into the target.
    /// - Parameters:
    ///   - nowMilliseconds: the current Unix time in ms; a record whose deadline is not after it is skipped.
    ///   - progress: called after each batch with the bytes of the RDB read so far.
    package func write(
        from reader: inout some RestoreRecordSource, nowMilliseconds: () -> Int64, progress: (Int64) async -> Void
    ) async throws -> RestoreWriteSummary {
        let pipeline = try await self.connection.beginPipeline()
        do {
            let summary = try await self.stream(from: &reader, into: pipeline, nowMilliseconds: nowMilliseconds, progress: progress)
            await self.connection.endPipeline()
            return summary
        } catch {
            await self.connection.endPipeline()
            throw error
        }
    }

    /// The producer (this task: read, encode, send) and the checker (a child task: read and check replies), with
    /// the window between them as two streams: sent batches one way, answered bytes the other.
    private func stream(
        from reader: inout some RestoreRecordSource, into pipeline: RedisPipeline, nowMilliseconds: () -> Int64, progress: (Int64) async -> Void
    ) async throws -> RestoreWriteSummary {
        let (sent, sentInput) = AsyncStream.makeStream(of: SentBatch.self)
        let (answered, answeredInput) = AsyncStream.makeStream(of: Int.self)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                defer { answeredInput.finish() }
                for await batch in sent {
                    try await self.check(batch, replies: try await pipeline.receive(batch.commands, timeout: self.timeout))
                    answeredInput.yield(batch.bytes)
                }
            }
            var window = Window(answered: answered.makeAsyncIterator())
            do {
                let summary = try await self.produce(from: &reader, nowMilliseconds: nowMilliseconds, progress: progress) { batch in
                    try await window.reserve(bytes: batch.buffer.readableBytes, batches: self.batchesInFlight, bytesLimit: self.batchesInFlight * self.batchBytes)
                    try await pipeline.send(batch.buffer, timeout: self.timeout)
                    sentInput.yield(
                        SentBatch(
                            commands: batch.commands, bytes: batch.buffer.readableBytes, what: batch.what,
                            sent: batch.starts.map { (batch.buffer, $0) }))
                }
                sentInput.finish()
                try await group.waitForAll()
                return summary
            } catch is CheckerStopped {
                // The checker found a refusal (or lost the connection): its error is the one to report.
                sentInput.finish()
                try await group.waitForAll()
                throw RedisError.connectionClosed
            } catch {
                sentInput.finish()
                try? await group.waitForAll()
                throw error
            }
        }
    }

    /// Reads, encodes and hands each batch to `send`.
    private func produce(
        from reader: inout some RestoreRecordSource, nowMilliseconds: () -> Int64, progress: (Int64) async -> Void,
        send: (Batch) async throws -> Void
    ) async throws -> RestoreWriteSummary {
        var summary = RestoreWriteSummary()
        var batch = Batch(stringsPerCommand: self.stringsPerCommand, tracksStarts: self.redirect != nil)
        var database: Int?
        while true {
            let item: RDBRecordReader.Item
            if let record = try reader.nextBuffered() {
                item = .record(record)
            } else if let next = try await reader.next() {
                item = next
            } else {
                break
            }
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
                if self.keepsDatabases, record.database != database {
                    batch.append(["SELECT".buffer, String(record.database).buffer], what: "SELECT \(record.database)")
                    database = record.database
                }
                if !batch.appendSet(record, absoluteDeadlines: self.target.setsAbsoluteDeadlines) {
                    batch.appendRestore(record, version: min(reader.version ?? self.target.rdbVersion, self.target.rdbVersion))
                }
                summary.keys += 1
            }
            if batch.commands >= self.batchCommands || batch.buffer.readableBytes + batch.group.readableBytes >= self.batchBytes {
                batch.closeGroup()
                try await send(batch)
                batch = Batch(stringsPerCommand: self.stringsPerCommand, tracksStarts: self.redirect != nil)
                await progress(reader.bytesRead)
            }
        }
        batch.closeGroup()
        if batch.commands > 0 { try await send(batch) }
        summary.bytesRead = reader.bytesRead
        await progress(reader.bytesRead)
        return summary
    }

    /// Checks every reply of a batch; a redirect is followed (when this writer follows them) and its final reply
    /// checked in its place.
    private func check(_ batch: SentBatch, replies: [RESPValue]) async throws {
        for (index, reply) in replies.enumerated() {
            if let redirect = self.redirect, let sent = batch.sent, let message = reply.errorMessage,
                let target = RestoreRedirect(errorMessage: message), index < sent.starts.count
            {
                let end = index + 1 < sent.starts.count ? sent.starts[index + 1] : sent.buffer.writerIndex
                let command = sent.buffer.getSlice(at: sent.starts[index], length: end - sent.starts[index]) ?? ByteBuffer()
                try Self.check(batch, index: index, reply: try await redirect(target, command))
                continue
            }
            try Self.check(batch, index: index, reply: reply)
        }
    }

    private static func check(_ batch: SentBatch, index: Int, reply: RESPValue) throws {
        let what = { index < batch.what.count ? batch.what[index].description : "a command" }
        // `SET … NX` answers nil and `MSETNX` 0 (nothing set) when a key was there, as `BUSYKEY` says for `RESTORE`.
        if reply.isNull || reply.integer == 0 { throw RestoreWriteError.fenceLeaked(what: what()) }
        guard let message = reply.errorMessage else { return }
        if message.hasPrefix("BUSYKEY") { throw RestoreWriteError.fenceLeaked(what: what()) }
        throw RestoreWriteError.refused(what: what(), reply: String(message.prefix(200)))
    }

    /// A batch on the wire: what its replies are checked against.
    struct SentBatch: Sendable {
        var commands: Int
        var bytes: Int
        var what: [Batch.Command]
        /// The batch's bytes and where each command starts in them, kept only by a writer that follows redirects
        /// (to send a redirected command again).
        var sent: (buffer: ByteBuffer, starts: [Int])?
    }

    /// The checker ended before the producer did: the producer stops and reports the checker's error.
    private struct CheckerStopped: Error {}

    /// Unanswered batches and bytes; the producer waits here until the checker has answered enough.
    private struct Window {
        var answered: AsyncStream<Int>.Iterator
        var batches = 0
        var bytes = 0

        /// Waits until one more batch of `bytes` fits (a batch alone always does), then counts it in.
        mutating func reserve(bytes: Int, batches limit: Int, bytesLimit: Int) async throws {
            while self.batches >= limit || (self.batches > 0 && self.bytes + bytes > bytesLimit) {
                guard let done = await self.answered.next() else { throw CheckerStopped() }
                self.batches -= 1
                self.bytes -= done
            }
            self.batches += 1
            self.bytes += bytes
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
    struct Batch: Sendable {
        var buffer = ByteBuffer()
        var commands = 0
        var what: [Command] = []
        /// Where each command starts in `buffer` (what a redirect sends again); nil when redirects are not
        /// followed, so the hot path of a single server's restore does not keep it.
        var starts: [Int]?

        /// What a command wrote, kept as bytes until a refusal needs it as text: making the message for
        /// every key would cost more than the `RESTORE` itself.
        enum Command: Sendable {
            case record(key: ByteBuffer, type: UInt8)
            /// An `MSETNX` of `count` string keys, the first one named.
            case strings(first: ByteBuffer, count: Int)
            case named(String)

            var description: String {
                switch self {
                case .record(let key, let type): "key \"\(RDBRecord.printable(key))\" (type \(type))"
                case .strings(let first, 1): "key \"\(RDBRecord.printable(first))\" (type 0)"
                case .strings(let first, let count): "one of \(count) string keys from key \"\(RDBRecord.printable(first))\""
                case .named(let text): text
                }
            }
        }

        /// Strings without a deadline wait here as `key value` pairs for one `MSETNX` (``closeGroup()``).
        private(set) var group = ByteBuffer()
        private var groupKeys = 0
        private var groupFirst = ByteBuffer()
        let stringsPerCommand: Int

        init(stringsPerCommand: Int, tracksStarts: Bool = false) {
            self.stringsPerCommand = stringsPerCommand
            self.starts = tracksStarts ? [] : nil
        }
        init(commands: Int, what: [Command]) {
            self.commands = commands
            self.what = what
            self.stringsPerCommand = 1
        }

        /// Ends the pending `MSETNX`. Keys of one database may land in any order, so only `SELECT` and `FUNCTION
        /// LOAD` close it (and the end of the batch): other keys' commands go before it, and groups stay full.
        mutating func closeGroup() {
            guard self.groupKeys > 0 else { return }
            self.starts?.append(self.buffer.writerIndex)
            let header = 24
            self.buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: header + self.group.readableBytes) { memory in
                var writer = RawBytesWriter(memory)
                writer.byte(UInt8(ascii: "*"))
                writer.decimal(1 + 2 * self.groupKeys)
                writer.text("\r\n$6\r\nMSETNX\r\n")
                writer.bytes(self.group)
                return writer.count
            }
            self.commands += 1
            self.what.append(.strings(first: self.groupFirst, count: self.groupKeys))
            self.group.clear()
            self.groupKeys = 0
        }

        mutating func append(_ arguments: [ByteBuffer], what: String) {
            self.closeGroup()
            self.starts?.append(self.buffer.writerIndex)
            RESPEncoder().encode(arguments, into: &self.buffer)
            self.commands += 1
            self.what.append(.named(what))
        }

        /// A string record without LRU/LFU facts, stored plain or as an integer: into the pending `MSETNX` when it
        /// has no deadline, else as `SET key value NX PXAT deadline`; false (nothing written) for any other record,
        /// which goes as `RESTORE`.
        ///
        /// The target ends with the same key, value, encoding and deadline as from `RESTORE`, at a fraction of the
        /// cost on both sides: the server neither verifies a CRC-64 nor decodes a payload, and runs one command per
        /// `stringsPerCommand` keys instead of one per key; Coffer computes no CRC-64 (it would only check Coffer's
        /// own arithmetic: the RDB's integrity is its whole-file checksum, verified at its end). Most keys of a cache
        /// are small strings, so this is most of a restore. `NX` keeps the fence check: `MSETNX` sets nothing and
        /// answers 0, `SET … NX` answers nil, when a key exists, as `RESTORE` answers `BUSYKEY`. LZF-compressed strings stay `RESTORE`
        /// (decompressing them here would cost Coffer what it saves the server), as do deadlines on targets older
        /// than 7.0 (no `PXAT` before 6.2; 6.x cannot be told apart by RDB version).
        mutating func appendSet(_ record: RDBRecord, absoluteDeadlines: Bool) -> Bool {
            guard record.type == 0, record.idle == nil, record.freq == nil, record.expiry == nil || absoluteDeadlines,
                let extent = try? RDBLength.peekString(record.value, at: record.value.readerIndex), extent.end == record.value.writerIndex
            else { return false }
            let integer: Int64?
            let plain: Range<Int>?
            switch extent.form {
            case .plain(let start, let count):
                (integer, plain) = (nil, (start - record.value.readerIndex)..<(start - record.value.readerIndex + count))
            case .integer(let start, let width):
                let value = record.value
                let number: Int64? =
                    switch width {
                    case 1: value.getInteger(at: start, as: Int8.self).map(Int64.init)
                    case 2: value.getInteger(at: start, endianness: .little, as: Int16.self).map(Int64.init)
                    default: value.getInteger(at: start, endianness: .little, as: Int32.self).map(Int64.init)
                    }
                guard let number else { return false }
                (integer, plain) = (number, nil)
            case .lzf:
                return false
            }
            // A large value goes as its own `SET`, written once into the batch: through the group it would be
            // copied twice, and the group's gain (fewer commands) is nothing next to its bytes.
            let grouped = record.expiry == nil && self.stringsPerCommand > 1 && record.value.readableBytes <= 16 * 1024
            func write(into buffer: inout ByteBuffer) {
                buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: record.key.readableBytes + record.value.readableBytes + 120) { memory in
                var writer = RawBytesWriter(memory)
                if !grouped { writer.text(record.expiry != nil ? "*6\r\n$3\r\nSET\r\n" : "*4\r\n$3\r\nSET\r\n") }
                writer.bulkHeader(length: record.key.readableBytes)
                writer.bytes(record.key)
                writer.text("\r\n")
                if let integer {
                    writer.bulkDecimal(integer)
                } else if let plain {
                    writer.bulkHeader(length: plain.count)
                    record.value.withUnsafeReadableBytes { writer.bytes(UnsafeRawBufferPointer(rebasing: $0[plain])) }
                    writer.text("\r\n")
                }
                if grouped { return writer.count }
                writer.text("$2\r\nNX\r\n")
                if let expiry = record.expiry {
                    writer.text("$4\r\nPXAT\r\n")
                    writer.bulkDecimal(expiry)
                }
                return writer.count
                }
            }
            if grouped {
                if self.groupKeys == 0 { self.groupFirst = record.key }
                write(into: &self.group)
                self.groupKeys += 1
                if self.groupKeys >= self.stringsPerCommand || self.group.readableBytes >= 64 * 1024 { self.closeGroup() }
            } else {
                self.starts?.append(self.buffer.writerIndex)
                write(into: &self.buffer)
                self.commands += 1
                self.what.append(.record(key: record.key, type: record.type))
            }
            return true
        }

        /// `RESTORE key ttl payload [ABSTTL] [IDLETIME s | FREQ f]`, the payload built in place: one reservation
        /// of the command's room (its pieces other than key and value take at most 160 bytes), then raw writes.
        mutating func appendRestore(_ record: RDBRecord, version: Int) {
            let payloadLength = DumpPayload.length(valueLength: record.value.readableBytes)
            self.starts?.append(self.buffer.writerIndex)
            self.buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: record.key.readableBytes + payloadLength + 160) { memory in
                var writer = RawBytesWriter(memory)
                let policy = record.idle != nil || record.freq != nil ? 2 : 0
                writer.byte(UInt8(ascii: "*"))
                writer.decimal(4 + (record.expiry != nil ? 1 : 0) + policy)
                writer.text("\r\n$7\r\nRESTORE\r\n")
                writer.bulkHeader(length: record.key.readableBytes)
                writer.bytes(record.key)
                writer.text("\r\n")
                writer.bulkDecimal(record.expiry ?? 0)
                writer.bulkHeader(length: payloadLength)
                DumpPayload.write(type: record.type, value: record.value, version: version, into: &writer)
                writer.text("\r\n")
                if record.expiry != nil { writer.text("$6\r\nABSTTL\r\n") }
                if let idle = record.idle {
                    writer.text("$8\r\nIDLETIME\r\n")
                    writer.bulkDecimal(idle)
                } else if let freq = record.freq {
                    writer.text("$4\r\nFREQ\r\n")
                    writer.bulkDecimal(freq)
                }
                return writer.count
            }
            self.commands += 1
            self.what.append(.record(key: record.key, type: record.type))
        }
    }
}

extension String {
    fileprivate var buffer: ByteBuffer { ByteBuffer(string: self) }
}
