import Logging
import NIOCore

/// Writes the records of one or more RDB files into several Redis servers at once: a Redis Cluster's masters, each
/// record to the master that owns its hash slot now (CRC-16 of the key or of its `{hash tag}`), or a single server
/// that takes every record (a cluster backup restored outside cluster mode).
///
/// This task reads the files one after the other and routes each record into its node's queue (batches of records,
/// at most ``queueBytes`` per node, so memory stays flat); one ``RestoreWriter`` per node drains its queue into its
/// own pipelined connection. A function library goes to every node. So a backup taken from 3 shards lands in a
/// cluster of 4 (or 1) exactly as in one of 3: where a key goes depends only on the target's slot map.
///
/// In cluster mode a node may still answer that a key lives elsewhere (the slot map changed during the restore):
/// `MOVED` is followed to the node named and `ASK` with `ASKING` first (a slot being migrated), up to
/// ``maximumRedirects`` hops, on a connection of the redirected node's own, and the key's reply is checked there.
/// Any node's failure fails the whole write: every queue is failed, every writer stops.
package struct ClusterRestoreWriter: Sendable {
    /// One server written to.
    package struct Node: Sendable {
        package var endpoint: RedisEndpoint
        /// The node's slots (inclusive ranges); ignored outside cluster mode.
        package var slots: [ClosedRange<Int>]
        package var target: RestoreTarget

        package init(endpoint: RedisEndpoint, slots: [ClosedRange<Int>], target: RestoreTarget) {
            self.endpoint = endpoint
            self.slots = slots
            self.target = target
        }

        var address: String { "\(self.endpoint.host):\(self.endpoint.port)" }
    }

    /// Why a cluster write cannot start.
    package enum PlanError: Error, Sendable, Equatable, CustomStringConvertible {
        /// Some slot has no node in the map.
        case uncoveredSlots(first: Int, count: Int)
        case noNodes

        package var description: String {
            switch self {
            case .uncoveredSlots(let first, let count): "\(count) hash slots (the first is \(first)) have no master"
            case .noNodes: "there is no node to restore into"
            }
        }
    }

    static let maximumRedirects = 5
    /// Bytes of records waiting for one node at most.
    static let queueBytes = 4 << 20
    /// Bytes of records routed to one node before they are handed over as a batch.
    static let batchBytes = 128 << 10

    let nodes: [Node]
    let clusterMode: Bool
    let connectTimeout: Duration
    let commandTimeout: Duration
    let logger: Logger
    /// The endpoint (with the same credentials) for a node a redirect names.
    let endpointFor: @Sendable (_ host: String, _ port: Int) -> RedisEndpoint
    /// Which node owns each slot (cluster mode), checked complete at init.
    private let owners: [Int16]

    package init(
        nodes: [Node], clusterMode: Bool, connectTimeout: Duration, commandTimeout: Duration, logger: Logger,
        endpointFor: @escaping @Sendable (_ host: String, _ port: Int) -> RedisEndpoint
    ) throws {
        guard !nodes.isEmpty else { throw PlanError.noNodes }
        var owners = [Int16](repeating: -1, count: RedisSlot.count)
        if clusterMode {
            for (index, node) in nodes.enumerated() {
                for range in node.slots where range.lowerBound >= 0 && range.upperBound < RedisSlot.count {
                    for slot in range { owners[slot] = Int16(index) }
                }
            }
            let missing = owners.indices.filter { owners[$0] < 0 }
            if let first = missing.first { throw PlanError.uncoveredSlots(first: first, count: missing.count) }
        }
        self.nodes = nodes
        self.clusterMode = clusterMode
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.logger = logger
        self.endpointFor = endpointFor
        self.owners = owners
    }

    /// What one node's queue carries.
    enum Routed: Sendable {
        case records([RDBRecord], version: Int?, bytes: Int)
        case function(ByteBuffer)

        var bytes: Int {
            switch self {
            case .records(_, _, let bytes): bytes
            case .function(let source): source.readableBytes
            }
        }
    }

    /// Writes every record of `files` (each a function returning the file's next chunk, nil at its end).
    /// - Parameter progress: the bytes of all files read so far.
    /// - Throws: the first failure: a file's (``RedisError/protocolViolation(_:)``, the chunk source's error) or a
    ///   node's (``RestoreWriteError``, ``RedisError``).
    package func write(
        files: [() async throws -> ByteBuffer?], nowMilliseconds: @escaping @Sendable () -> Int64, progress: (Int64) async -> Void
    ) async throws -> RestoreWriteSummary {
        let queues = self.nodes.map { _ in BoundedQueue<Routed>(limit: Self.queueBytes, weight: { $0.bytes }) }
        return try await withThrowingTaskGroup(of: RestoreWriteSummary.self) { group in
            for (index, node) in self.nodes.enumerated() {
                group.addTask {
                    do {
                        return try await self.drain(queues[index], into: node, nowMilliseconds: nowMilliseconds)
                    } catch {
                        self.logger.error("Cluster restore: writing into a node failed", metadata: ["node": "\(node.address)", "error": "\(error)"])
                        for queue in queues { queue.fail(error) }
                        throw error
                    }
                }
            }
            var routingFailure: (any Error)?
            var bytesRead: Int64 = 0
            do {
                bytesRead = try await self.route(files, into: queues, progress: progress)
                for queue in queues { queue.finish() }
            } catch {
                for queue in queues { queue.fail(error) }
                routingFailure = error
            }
            var total = RestoreWriteSummary()
            var nodeFailure: (any Error)?
            for _ in self.nodes.indices {
                do {
                    guard let summary = try await group.next() else { break }
                    total.keys += summary.keys
                    total.expiredSkipped += summary.expiredSkipped
                    total.functions = max(total.functions, summary.functions)
                } catch {
                    if nodeFailure == nil { nodeFailure = error }
                }
            }
            // A node's failure reaches the router as its queue's failure: the same error either way.
            if let failure = routingFailure ?? nodeFailure { throw failure }
            total.bytesRead = bytesRead
            return total
        }
    }

    /// Reads the files in order and hands each record to its node's queue; returns the bytes read.
    private func route(_ files: [() async throws -> ByteBuffer?], into queues: [BoundedQueue<Routed>], progress: (Int64) async -> Void) async throws
        -> Int64
    {
        var pending = self.nodes.map { _ in (records: [RDBRecord](), bytes: 0) }
        var done: Int64 = 0
        for file in files {
            var reader = RDBRecordReader(nextChunk: file)
            func flush(_ index: Int) async throws {
                guard !pending[index].records.isEmpty else { return }
                let batch = pending[index]
                pending[index] = ([], 0)
                try await queues[index].send(.records(batch.records, version: reader.version, bytes: batch.bytes))
                await progress(done + reader.bytesRead)
            }
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
                case .record(let record):
                    let index = self.owner(of: record.key)
                    pending[index].records.append(record)
                    pending[index].bytes += record.key.readableBytes + record.value.readableBytes + 32
                    if pending[index].bytes >= Self.batchBytes { try await flush(index) }
                case .function(let source):
                    // Every node runs scripts for its own keys: each needs every library. What was routed
                    // before goes first, so each node sees the file's order.
                    for index in queues.indices {
                        try await flush(index)
                        try await queues[index].send(.function(source))
                    }
                }
            }
            for index in queues.indices { try await flush(index) }
            done += reader.bytesRead
            await progress(done)
        }
        return done
    }

    private func owner(of key: ByteBuffer) -> Int {
        guard self.clusterMode else { return 0 }
        let slot = key.withUnsafeReadableBytes { RedisSlot.slot(of: $0) }
        return Int(self.owners[slot])
    }

    /// One node's writer: its queue → ``RestoreWriter`` → its connection.
    private func drain(_ queue: BoundedQueue<Routed>, into node: Node, nowMilliseconds: @Sendable () -> Int64) async throws -> RestoreWriteSummary {
        let connection = try await RedisConnection.connect(to: node.endpoint, timeout: self.connectTimeout, logger: self.logger)
        let redirects = RedirectConnections(writer: self)
        do {
            let follow: RestoreRedirectHandler = { redirect, command in try await redirects.send(command, following: redirect) }
            // Keys of one `MSETNX` must share a slot in a cluster: strings go one `SET … NX` each there.
            let writer = RestoreWriter(
                connection: connection, target: node.target, stringsPerCommand: self.clusterMode ? 1 : 128, timeout: self.commandTimeout,
                keepsDatabases: !self.clusterMode, redirect: self.clusterMode ? follow : nil)
            var source = RoutedSource(queue: queue)
            let summary = try await writer.write(from: &source, nowMilliseconds: nowMilliseconds, progress: { _ in })
            await redirects.close()
            await connection.close()
            return summary
        } catch {
            await redirects.close()
            await connection.close()
            throw error
        }
    }

    /// The connections a node's writer opened to follow redirects: one per node named, used by that writer's
    /// reply checker only, one command at a time.
    private actor RedirectConnections {
        let writer: ClusterRestoreWriter
        var connections: [String: RedisConnection] = [:]

        init(writer: ClusterRestoreWriter) { self.writer = writer }

        func send(_ command: ByteBuffer, following first: RestoreRedirect) async throws -> RESPValue {
            var redirect = first
            for _ in 0..<ClusterRestoreWriter.maximumRedirects {
                let connection = try await self.connection(redirect.host, redirect.port)
                var request = ByteBuffer()
                if redirect.kind == .ask { RESPEncoder().encode([ByteBuffer(string: "ASKING")], into: &request) }
                request.writeImmutableBuffer(command)
                let pipeline = try await connection.beginPipeline()
                let replies: [RESPValue]
                do {
                    try await pipeline.send(request, timeout: self.writer.commandTimeout)
                    replies = try await pipeline.receive(redirect.kind == .ask ? 2 : 1, timeout: self.writer.commandTimeout)
                    await connection.endPipeline()
                } catch {
                    await connection.endPipeline()
                    throw error
                }
                guard let reply = replies.last else { throw RedisError.connectionClosed }
                if let message = reply.errorMessage, let next = RestoreRedirect(errorMessage: message) {
                    redirect = next
                    continue
                }
                return reply
            }
            throw RestoreWriteError.refused(what: "a key of slot \(first.slot)", reply: "more than \(ClusterRestoreWriter.maximumRedirects) redirects")
        }

        private func connection(_ host: String, _ port: Int) async throws -> RedisConnection {
            let key = "\(host):\(port)"
            if let open = self.connections[key] { return open }
            let connection = try await RedisConnection.connect(
                to: self.writer.endpointFor(host, port), timeout: self.writer.connectTimeout, logger: self.writer.logger)
            self.connections[key] = connection
            return connection
        }

        func close() async {
            for connection in self.connections.values { await connection.close() }
            self.connections = [:]
        }
    }
}

/// One node's share of the routed records, as a ``RestoreRecordSource`` for its ``RestoreWriter``.
struct RoutedSource: RestoreRecordSource {
    let queue: BoundedQueue<ClusterRestoreWriter.Routed>
    private var records: [RDBRecord] = []
    private var position = 0
    private(set) var version: Int?
    /// The router reports progress over the files; a node's writer has none of its own.
    var bytesRead: Int64 { 0 }

    init(queue: BoundedQueue<ClusterRestoreWriter.Routed>) { self.queue = queue }

    mutating func nextBuffered() throws -> RDBRecord? {
        guard self.position < self.records.count else { return nil }
        defer { self.position += 1 }
        return self.records[self.position]
    }

    mutating func next() async throws -> RDBRecordReader.Item? {
        while true {
            if let record = try self.nextBuffered() { return .record(record) }
            self.records = []
            self.position = 0
            switch try await self.queue.next() {
            case nil: return nil
            case .function(let source)?: return .function(source)
            case .records(let records, let version, _)?:
                self.records = records
                self.version = version ?? self.version
            }
        }
    }
}
