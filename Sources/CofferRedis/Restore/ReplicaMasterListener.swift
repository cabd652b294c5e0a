import Logging
import NIOCore
import NIOPosix
import Synchronization

/// The master side of one full synchronisation: a one-shot listener that serves a stored RDB to the one
/// replica that asks for it, exactly as a Redis master would with `repl-diskless-sync no` (restore.md §12).
///
/// Handshake served: `PING` → `+PONG`, `AUTH`/`REPLCONF …` → `+OK`, then `PSYNC <replid> <offset>` →
/// `+FULLRESYNC <our replid> 0\r\n$<length>\r\n` and the RDB bytes, pulled from the chunk source one chunk at a
/// time and written only as fast as the socket drains (the writer suspends while the channel is not
/// writable), so memory stays flat whatever the file size. Afterwards the link is kept open with a `PING` in
/// the replication stream every ``Payload/pingInterval`` (the replica drops a silent master after
/// `repl-timeout`), and the replica's `REPLCONF ACK`s are read and discarded.
///
/// Who may connect: only a peer whose `PSYNC` names ``Payload/expectedReplicaID`` — a Redis master turned
/// replica sends its own `master_replid`, which the loader read from the target just before `REPLICAOF`.
/// A connection that sends anything else is closed and counted in ``Status/refusedPeers``; once the expected
/// replica is being served, every further connection is closed at once.
///
/// Outcome: the listener never throws; what happened is in ``status``, which the loader polls.
final class ReplicaMasterListener: Sendable {
    /// What to serve.
    struct Payload: Sendable {
        /// The 40-hex replication id sent in `+FULLRESYNC`; the replica adopts it once it has loaded the file.
        var replicationID: String
        /// The `master_replid` the target must name in `PSYNC`.
        var expectedReplicaID: String
        /// Exact byte length of the RDB (the `$<length>` header).
        var length: Int64
        /// The RDB bytes in order; `nil` at the end.
        var chunks: @Sendable () async throws -> ByteBuffer?
        /// Period of the keep-alive `PING` once the file is sent.
        var pingInterval: Duration
    }

    /// What the listener has done so far.
    struct Status: Sendable, Equatable {
        /// The expected replica sent `PSYNC` and the transfer began.
        var synchronising = false
        /// RDB bytes written to the socket.
        var bytesSent: Int64 = 0
        /// Every RDB byte was written.
        var streamed = false
        /// Connections closed because they were not the expected replica (or came second).
        var refusedPeers = 0
        /// Why serving the expected replica stopped, if it did (link lost, chunk source failed, …).
        var failure: String?
    }

    /// Mutable state shared between the accept loop, the session and the loader's poller.
    private struct State {
        var status = Status()
        /// A connection is being served (handshake or transfer).
        var busy = false
        /// Open child channels, closed by ``close()`` so nothing outlives the loader.
        var children: [ObjectIdentifier: any Channel] = [:]
        var closed = false
    }

    /// Why a session ended.
    private enum SessionError: Error {
        /// Not the expected replica: free the slot for another connection.
        case unexpectedPeer(String)
        /// The expected replica was being served and the link or the source failed.
        case failed(String)
    }

    /// The bound port (the real one when 0 was asked for).
    let port: Int
    private let serverChannel: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
    private let state: Mutex<State>
    private let logger: Logger

    private init(serverChannel: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>, port: Int, logger: Logger) {
        self.serverChannel = serverChannel
        self.port = port
        self.state = Mutex(State())
        self.logger = logger
    }

    /// Binds the listener.
    ///
    /// - Parameters:
    ///   - host: Address to listen on.
    ///   - port: Port, 0 for a random free one.
    ///   - logger: Receives debug lines (peers, sizes; never data).
    /// - Returns: The bound listener; call ``run(_:)`` to serve and ``close()`` when done.
    static func bind(host: String, port: Int, logger: Logger) async throws -> ReplicaMasterListener {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(ChannelOptions.backlog, value: 4)
            .childChannelOption(ChannelOptions.socketOption(.so_sndbuf), value: 4 << 20)
            .bind(host: host, port: port) { child in
                child.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: child)
                }
            }
        guard let bound = channel.channel.localAddress?.port else {
            channel.channel.close(promise: nil)
            throw RedisError.unreachable("the replication listener on \(host):\(port) has no local port")
        }
        return ReplicaMasterListener(serverChannel: channel, port: bound, logger: logger)
    }

    /// A copy of the current status.
    var status: Status { self.state.withLock { $0.status } }

    /// Accepts connections and serves `payload` to the expected replica until ``close()``.
    ///
    /// End it with ``close()``, not by cancelling its task: a cancelled accept loop stops taking connections
    /// while the socket still accepts them, and NIO traps on a wrapped connection nobody consumed (a replica
    /// retries its master every second, so one arrives sooner or later).
    func run(_ payload: Payload) async {
        do {
            try await self.serverChannel.executeThenClose { inbound in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await connection in inbound {
                        let child = connection.channel
                        let admitted = self.state.withLock { state -> Bool in
                            guard !state.busy, !state.closed else { return false }
                            state.busy = true
                            state.children[ObjectIdentifier(child)] = child
                            return true
                        }
                        guard admitted else {
                            self.state.withLock { $0.status.refusedPeers += 1 }
                            self.logger.debug("Replication listener refused a second peer", metadata: ["peer": "\(child.remoteAddress.map { "\($0)" } ?? "?")"])
                            // Through executeThenClose: a wrapped channel must finish its writer, not just close.
                            group.addTask { try? await connection.executeThenClose { _, _ in } }
                            continue
                        }
                        group.addTask { await self.serve(connection, payload: payload) }
                    }
                }
            }
        } catch {
            self.logger.debug("Replication listener stopped", metadata: ["error": "\(error)"])
        }
    }

    /// Closes the listener and any connection it serves. Idempotent.
    func close() async {
        let children = self.state.withLock { state -> [any Channel] in
            state.closed = true
            return Array(state.children.values)
        }
        for child in children { child.close(promise: nil) }
        // Stop accepting first: a connection accepted while the server channel closes (the target retries its
        // master every second) is wrapped, then dropped unconsumed, and NIO traps on that (seen once in CI).
        try? await self.serverChannel.channel.setOption(ChannelOptions.autoRead, value: false).get()
        self.serverChannel.channel.close(promise: nil)
        try? await self.serverChannel.channel.closeFuture.get()
    }

    /// Serves one connection; records the outcome in the state.
    private func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>, payload: Payload) async {
        let child = connection.channel
        do {
            try await connection.executeThenClose { inbound, outbound in
                try await self.session(inbound: inbound, outbound: outbound, payload: payload)
            }
        } catch SessionError.unexpectedPeer(let reason) {
            self.logger.debug("Replication listener refused a peer", metadata: ["reason": "\(reason)"])
            self.state.withLock { state in
                state.status.refusedPeers += 1
                state.busy = false
            }
        } catch SessionError.failed(let reason) {
            self.state.withLock { $0.status.failure = reason }
        } catch {
            self.state.withLock { $0.status.failure = "replication link failed: \(error)" }
        }
        child.close(promise: nil)
        _ = self.state.withLock { $0.children.removeValue(forKey: ObjectIdentifier(child)) }
    }

    /// The handshake reader and the payload writer of one connection, as two tasks: the reader owns the
    /// inbound stream for the whole connection (a stream has a single iterator) and tells the writer when
    /// the expected `PSYNC` arrived.
    private func session(
        inbound: NIOAsyncChannelInboundStream<ByteBuffer>, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, payload: Payload
    ) async throws {
        let (synced, syncedContinuation) = AsyncStream<Void>.makeStream()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                defer { syncedContinuation.finish() }
                try await self.readHandshake(inbound: inbound, outbound: outbound, payload: payload) {
                    syncedContinuation.yield()
                }
            }
            group.addTask {
                var iterator = synced.makeAsyncIterator()
                guard await iterator.next() != nil else { return }
                try await self.stream(outbound: outbound, payload: payload)
            }
            while try await group.next() != nil {}
        }
    }

    /// Answers the handshake until `PSYNC`, then drains the replica's `REPLCONF ACK`s until the link ends.
    private func readHandshake(
        inbound: NIOAsyncChannelInboundStream<ByteBuffer>, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, payload: Payload,
        onSync: () -> Void
    ) async throws {
        var buffer = ByteBuffer()
        var synchronising = false
        do {
            for try await chunk in inbound {
                if synchronising { continue }
                buffer.writeImmutableBuffer(chunk)
                while !synchronising, let command = try Self.nextCommand(&buffer) {
                    switch command.first?.uppercased() {
                    case "PING":
                        try await outbound.write(ByteBuffer(string: "+PONG\r\n"))
                    case "REPLCONF", "AUTH":
                        try await outbound.write(ByteBuffer(string: "+OK\r\n"))
                    case "PSYNC" where command.count == 3:
                        guard command[1] == payload.expectedReplicaID else {
                            throw SessionError.unexpectedPeer("PSYNC names replication id \(command[1].prefix(40)), not the target's")
                        }
                        self.state.withLock { $0.status.synchronising = true }
                        synchronising = true
                        onSync()
                    default:
                        throw SessionError.unexpectedPeer("unexpected command \(command.first?.prefix(32) ?? "(empty)") before PSYNC")
                    }
                }
                if !synchronising, buffer.readableBytes > 64 * 1024 {
                    throw SessionError.unexpectedPeer("more than 64 KiB without a complete command")
                }
            }
        } catch let error as SessionError {
            throw error
        } catch {
            throw synchronising ? SessionError.failed("replication link lost: \(error)") : SessionError.unexpectedPeer("\(error)")
        }
        throw synchronising ? SessionError.failed("the replica closed the replication link") : SessionError.unexpectedPeer("closed before PSYNC")
    }

    /// Writes `+FULLRESYNC`, the RDB, then keep-alive `PING`s until cancelled.
    private func stream(outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, payload: Payload) async throws {
        do {
            try await outbound.write(ByteBuffer(string: "+FULLRESYNC \(payload.replicationID) 0\r\n$\(payload.length)\r\n"))
        } catch {
            throw SessionError.failed("replication link lost: \(error)")
        }
        var sent: Int64 = 0
        while true {
            let chunk: ByteBuffer?
            do {
                chunk = try await payload.chunks()
            } catch {
                throw SessionError.failed("reading the backup failed after \(sent) of \(payload.length) bytes: \(error)")
            }
            guard let chunk else { break }
            guard sent + Int64(chunk.readableBytes) <= payload.length else {
                throw SessionError.failed("the backup is longer than its declared \(payload.length) bytes")
            }
            do {
                try await outbound.write(chunk)
            } catch {
                throw SessionError.failed("replication link lost after \(sent) of \(payload.length) bytes: \(error)")
            }
            sent += Int64(chunk.readableBytes)
            let total = sent
            self.state.withLock { $0.status.bytesSent = total }
        }
        guard sent == payload.length else {
            throw SessionError.failed("the backup ended after \(sent) of its declared \(payload.length) bytes")
        }
        self.state.withLock { $0.status.streamed = true }
        self.logger.debug("Replication listener sent the whole RDB", metadata: ["bytes": "\(sent)"])
        let ping = ByteBuffer(string: "*1\r\n$4\r\nPING\r\n")
        while true {
            try await Task.sleep(for: payload.pingInterval)
            do {
                try await outbound.write(ping)
            } catch {
                throw SessionError.failed("replication link lost after the transfer: \(error)")
            }
        }
    }

    /// One command from the front of `buffer`: a RESP array of bulk strings (what Redis ≥ 6 sends) or an
    /// inline line (older replicas); `nil` until a whole command is there. Bare newlines are skipped.
    static func nextCommand(_ buffer: inout ByteBuffer) throws -> [String]? {
        while buffer.readableBytes > 0 {
            guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
            if first == UInt8(ascii: "\n") || first == UInt8(ascii: "\r") {
                buffer.moveReaderIndex(forwardBy: 1)
                continue
            }
            if first == UInt8(ascii: "*") {
                guard let value = try RESPParser(maximumBulkLength: 64 * 1024).parse(&buffer) else { return nil }
                guard let items = value.array else { throw SessionError.unexpectedPeer("a null array is not a command") }
                return items.map { $0.string ?? "" }
            }
            guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
            let length = newline - buffer.readerIndex
            let line = buffer.readString(length: length) ?? ""
            buffer.moveReaderIndex(forwardBy: 1)
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\r" }).map(String.init)
            if !words.isEmpty { return words }
        }
        return nil
    }
}
