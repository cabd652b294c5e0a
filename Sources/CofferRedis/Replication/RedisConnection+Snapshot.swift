import Logging
import NIOCore
import Synchronization

extension RedisConnection {
    /// Pulls a point-in-time RDB snapshot over the replication protocol, as `redis-cli --rdb` does, and
    /// streams it into `sink` as it arrives; memory stays flat whatever the dataset size.
    ///
    /// Handshake (reference §1): `REPLCONF capa eof` (accept the diskless form), `REPLCONF rdb-only 1`
    /// (≥ 6.2: no replication buffer on the master, which closes after the RDB), then `SYNC`. Errors to
    /// the two REPLCONFs are tolerated, like redis-cli, since older servers lack them. Both payload
    /// framings are read: `$<length>` and `$EOF:<40-byte mark>`. The RDB is parsed while it streams, so
    /// its end and CRC-64 are checked and keys are counted. Any early end is a failure; the caller
    /// discards what the sink received.
    ///
    /// The connection is used up: it is closed when this returns or throws.
    ///
    /// - Parameters:
    ///   - idleTimeout: longest silence tolerated (the master sends `\n` every second while it prepares).
    ///   - expectedKeys: per-database key counts from `INFO keyspace`, for progress before `RESIZEDB` says.
    ///   - sink: receives the RDB bytes in order, as slices of the received buffers (no copy). It is awaited
    ///     before the next read, so a sink that queues (write-behind) keeps the socket loop moving and one
    ///     that waits applies back-pressure to the master.
    ///   - progress: called at most four times a second.
    /// - Returns: what was received.
    package nonisolated func pullSnapshot(
        idleTimeout: Duration = .seconds(60), expectedKeys: [Int: Int] = [:],
        sink: @escaping (ByteBuffer) async throws -> Void, progress: @escaping (SnapshotProgress) -> Void = { _ in }
    ) async throws -> SnapshotSummary {
        do {
            let summary = try await self.pull(idleTimeout: idleTimeout, expectedKeys: expectedKeys, sink: sink, progress: progress)
            await self.close()
            return summary
        } catch {
            await self.close()
            throw error
        }
    }

    private nonisolated func pull(
        idleTimeout: Duration, expectedKeys: [Int: Int], sink: @escaping (ByteBuffer) async throws -> Void,
        progress: @escaping (SnapshotProgress) -> Void
    ) async throws -> SnapshotSummary {
        _ = try await self.command(["REPLCONF", "capa", "eof"])
        // A master that takes `rdb-only` closes the connection once the RDB is sent (redis-cli relies on it too).
        let closesAfterRDB: Bool
        if case .error = try await self.command(["REPLCONF", "rdb-only", "1"]) { closesAfterRDB = false } else { closesAfterRDB = true }
        try await self.sendRaw(RESPEncoder().encode(["SYNC"]))
        let watchdog = await self.startWatchdog(idleTimeout: idleTimeout)
        defer { watchdog.stop() }
        var source = ReplicationSource(nextChunk: { try await self.takeChunk(watchdog: watchdog) }, sink: sink, progress: progress)
        source.keysTotalPerDatabase = expectedKeys
        let header = try await source.readHeaderLine()
        if header.hasPrefix("-") {
            let message = String(header.dropFirst())
            throw message.hasPrefix("NOPERM") || message.hasPrefix("NOAUTH") || message.hasPrefix("WRONGPASS")
                ? RedisError.authenticationFailed(message) : RedisError.server(message)
        }
        guard header.hasPrefix("$") else { throw RedisError.protocolViolation("unexpected reply to SYNC: \(header.prefix(64))") }
        var mark: [UInt8]?
        if header.hasPrefix("$EOF:") {
            let bytes = Array(header.utf8.dropFirst(5))
            guard bytes.count == 40 else { throw RedisError.protocolViolation("the $EOF: mark is not 40 bytes") }
            mark = bytes
            source.startPayload(length: nil)
        } else {
            guard let length = Int64(header.dropFirst()), length >= 0 else {
                throw RedisError.protocolViolation("bad payload length in \(header.prefix(64))")
            }
            source.startPayload(length: length)
        }
        // The payload streams now: wake up for it in large reads (``ReceiveBatching``). Only when the master closes
        // after the RDB, whose last bytes, below the mark, then come with the end of the stream.
        let batching = closesAfterRDB ? ReceiveBatching(channel: self.channel, watchdog: watchdog) : nil
        defer { batching?.stop() }
        let scan = try await source.scanRDB()
        let size = source.written
        if let mark {
            guard try await source.read(40) == mark else {
                throw RedisError.protocolViolation("the diskless payload did not end with its $EOF: mark")
            }
        } else if let total = source.totalLength, total != size {
            throw RedisError.protocolViolation("the RDB ended after \(size) of \(total) announced bytes")
        }
        source.keysTotalPerDatabase = scan.keysPerDatabase
        source.recording = true
        source.report(force: true)
        return SnapshotSummary(
            bytes: size, diskless: mark != nil, rdbVersion: scan.version, keysPerDatabase: scan.keysPerDatabase,
            checksumVerified: scan.checksumVerified)
    }

    /// Writes raw bytes (the `SYNC` that turns the connection into a replication stream).
    func sendRaw(_ bytes: ByteBuffer) async throws {
        guard case .open = self.state else { throw RedisError.connectionClosed }
        do {
            try await self.outbound.write(bytes)
        } catch {
            self.fail()
            throw RedisError.connectionClosed
        }
    }

    /// Hands over the buffered bytes, or the next chunk from the socket.
    ///
    /// Silence is bounded by `watchdog` (one repeating timer for the whole pull, rather than a timer per
    /// chunk: a pull reads tens of thousands of chunks, and each timer costs a cross-thread wake-up).
    /// - Returns: the chunk; throws at end of stream (`timedOut` when the watchdog closed the socket).
    func takeChunk(watchdog: IdleWatchdog) async throws -> ByteBuffer? {
        if self.readBuffer.readableBytes > 0 {
            let chunk = self.readBuffer
            self.readBuffer = ByteBuffer()
            return chunk
        }
        guard case .open = self.state else { throw RedisError.connectionClosed }
        let received: Bool
        do {
            received = try await self.receive()
        } catch {
            self.fail()
            throw watchdog.hasFired ? RedisError.timedOut(watchdog.message) : RedisError.connectionClosed
        }
        guard received else {
            self.fail()
            throw watchdog.hasFired ? RedisError.timedOut(watchdog.message) : RedisError.connectionClosed
        }
        watchdog.touch()
        let chunk = self.readBuffer
        self.readBuffer = ByteBuffer()
        return chunk
    }

    /// Starts the idle watchdog of a pull on the connection's event loop.
    func startWatchdog(idleTimeout: Duration) -> IdleWatchdog {
        IdleWatchdog(channel: self.channel, idleTimeout: idleTimeout)
    }
}

/// Closes a connection that received nothing for `idleTimeout`, checking four times per period.
final class IdleWatchdog: Sendable {
    /// Shared with the timer closure, which must not capture the watchdog before it is initialised.
    private final class State: Sendable {
        let lastActivity = Atomic<Int64>(NIODeadline.now().uptimeNanoseconds.asInt64)
        let fired = Atomic<Bool>(false)
    }

    private let state = State()
    private let task: RepeatedTask
    let message: String

    init(channel: any Channel, idleTimeout: Duration) {
        let idle = Int64(idleTimeout.components.seconds) * 1_000_000_000 + idleTimeout.components.attoseconds / 1_000_000_000
        let state = self.state
        self.message = "the master sent nothing for \(idleTimeout)"
        let tick = TimeAmount.nanoseconds(max(1_000_000, idle / 4))
        self.task = channel.eventLoop.scheduleRepeatedTask(initialDelay: tick, delay: tick) { _ in
            if NIODeadline.now().uptimeNanoseconds.asInt64 - state.lastActivity.load(ordering: .relaxed) > idle {
                state.fired.store(true, ordering: .releasing)
                channel.close(promise: nil)
            }
        }
    }

    var hasFired: Bool { self.state.fired.load(ordering: .acquiring) }

    /// Records that bytes arrived.
    func touch() { self.state.lastActivity.store(NIODeadline.now().uptimeNanoseconds.asInt64, ordering: .relaxed) }

    /// Nanoseconds since bytes last arrived.
    var silence: Int64 { NIODeadline.now().uptimeNanoseconds.asInt64 - self.state.lastActivity.load(ordering: .relaxed) }

    func stop() { self.task.cancel() }
}

extension UInt64 {
    fileprivate var asInt64: Int64 { Int64(truncatingIfNeeded: self) }
}

/// Makes a snapshot pull read in large chunks: the socket reports itself readable only once `SO_RCVLOWAT` bytes wait
/// (256 KiB), rather than for each 16 KiB the master writes.
///
/// Why: every chunk costs a wake-up of the event loop, a hop to the pulling task, the checksum and parse calls, and a
/// hand-off to the blob writer's thread. A 3-shard cluster backup read about 18 KiB per chunk (`strace -c`: 2,264
/// reads for 42 MB) and spent most of its CPU on those per-chunk costs, not on the bytes.
///
/// The last bytes of the payload may be fewer than the mark: they come with the end of the stream (the master closes
/// an `rdb-only` replica after the RDB). Should the master pause instead, the mark drops to one byte after 100 ms
/// without data, so nothing waits longer than that, and goes up again once bytes flow.
final class ReceiveBatching: Sendable {
    static let lowWatermark = 256 * 1024
    /// How long the socket may be silent before the mark drops.
    static let pause: Int64 = 100_000_000
    private static let option = ChannelOptions.Types.SocketOption(level: .socket, name: NIOBSDSocket.Option(rawValue: 18))  // SO_RCVLOWAT

    private let relaxer: RepeatedTask

    init(channel: any Channel, watchdog: IdleWatchdog) {
        let raised = Atomic<Bool>(true)
        channel.setOption(Self.option, value: Self.lowWatermark).whenComplete { _ in }
        self.relaxer = channel.eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(100), delay: .milliseconds(100)) { _ in
            let quiet = watchdog.silence > Self.pause
            guard quiet == raised.load(ordering: .relaxed) else { return }
            raised.store(!quiet, ordering: .relaxed)
            channel.setOption(Self.option, value: quiet ? 1 : Self.lowWatermark).whenComplete { _ in }
        }
    }

    func stop() { self.relaxer.cancel() }
}
