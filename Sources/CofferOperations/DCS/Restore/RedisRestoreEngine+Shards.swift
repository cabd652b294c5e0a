import CofferCore
import CofferRedis
import Foundation
import Logging
import NIOCore

/// The restore by hash slot: into a Redis Cluster (whatever the backup), or from a cluster backup (whatever the
/// target). Every key goes to the master that owns its slot now (``ClusterRestoreWriter``), so a cluster resharded
/// since the backup, or one with another number of shards, receives every key; a single server receives every key
/// of every shard file. The `RESTORE` path's steps run on every master, each in parallel across the masters, and a
/// checkpoint (``ShardedRestoreState``) names every node's changes before they are made:
/// 1. fence every master (its users off, their client connections killed: the replicas' links stay);
/// 2. take every master's safety snapshot;
/// 3. flush every master (its replicas follow), then route every record of every file to its master;
/// 4. unfence every master, delete the temporaries and the safety snapshots.
/// One node's failure fails the whole restore and rolls every shard back: the slot map is read again (a master
/// lost mid-restore is replaced by its replica within the cluster's node timeout: the rollback waits up to
/// ``rollbackWait`` for every slot to have a master), every master is flushed and every safety snapshot is routed
/// back by slot.
///
/// The fast path (replication) does not apply: a cluster node refuses `REPLICAOF`.
extension RedisRestoreEngine {
    /// How long a rollback waits for the cluster to have a master for every slot again.
    static let rollbackWait: Duration = .seconds(60)

    /// Whether `request` needs the restore by slot.
    static func isSharded(_ request: RedisRestoreRequest, topology: DCSTopology) -> Bool {
        topology.kind == .cluster || Self.backupIsSharded(request.backup)
    }

    static func backupIsSharded(_ backup: DCSBackupRecord) -> Bool { backup.blobKey == nil && !(backup.shards ?? []).isEmpty }

    /// The backup's files in slot order: its shards' (a cluster backup), or its one file.
    static func sourceKeys(_ request: RedisRestoreRequest) -> [String] {
        guard Self.backupIsSharded(request.backup), let shards = request.backup.shards else { return [request.backupBlobKey] }
        return shards.sorted { $0.index < $1.index }.map(\.blobKey)
    }

    /// Where node `index`'s safety snapshot lives.
    static func safetyBlobKey(_ request: RedisRestoreRequest, node index: Int) -> String {
        "dcs-restore/\(request.target.projectID)/\(request.restoreID)/safety-\(index).rdb"
    }

    /// The request as one node sees it: the same instance (credentials), that node's address.
    static func nodeRequest(_ request: RedisRestoreRequest, host: String, port: Int) -> RedisRestoreRequest {
        var request = request
        request.target.host = host
        request.target.port = port
        return request
    }

    /// The servers to write into: every master with its slots (cluster), or the one master.
    /// - Throws: `.redis` when a master is not reachable, or none is known.
    static func writeTargets(_ topology: DCSTopology) throws -> [(node: DCSTopology.Node, slots: [ClosedRange<Int>])] {
        let targets: [(node: DCSTopology.Node, slots: [ClosedRange<Int>])] =
            topology.kind == .cluster
            ? topology.shards.compactMap { shard in shard.master.map { ($0, shard.slots.map { $0.start...$0.end }) } }
            : (topology.shards.first?.master.map { [($0, [])] } ?? [])
        guard !targets.isEmpty else { throw RedisRestoreError(.redis, "the target has no master to restore into") }
        let unreachable = targets.filter { !$0.node.reachable }.map(\.node.address)
        guard unreachable.isEmpty else {
            throw RedisRestoreError(.redis, "the target's masters \(unreachable.joined(separator: ", ")) cannot be reached")
        }
        return targets
    }

    func restoreSharded(
        _ request: RedisRestoreRequest, topology: DCSTopology, save: @escaping @Sendable (RestoreCheckpoint) async throws -> Void,
        progress: @escaping @Sendable (Double) async -> Void
    ) async throws -> RestoreSummary {
        let clusterMode = topology.kind == .cluster
        let targets = try Self.writeTargets(topology)
        let requests = targets.map { Self.nodeRequest(request, host: $0.node.host, port: $0.node.port) }
        let blobs = try await self.openAll(Self.sourceKeys(request))
        defer { for blob in blobs { blob.close() } }
        var probed: [Probe] = []
        for nodeRequest in requests { probed.append(try await self.probe(nodeRequest)) }
        let probes = probed
        // The plan, before anything changes: every type loadable by the oldest master, every slot covered.
        if let oldest = probes.map(\.target).min(by: { $0.rdbVersion < $1.rdbVersion }) {
            for blob in blobs { try await self.checkTypes(blob, target: oldest) }
        }
        let nodes = zip(requests, probes).enumerated().map { index, pair in
            let (nodeRequest, probe) = pair
            let temporary = probe.user == "default" ? RestoreFence.temporaryUserName(restoreID: request.restoreID) : nil
            let worker = temporary ?? probe.user
            let state = RedisRestoreState(
                phase: .fencing, disabledUsers: probe.users.filter { $0.isOn && $0.name != worker }.map(\.name), temporaryUser: temporary,
                safetyBlobKey: Self.safetyBlobKey(request, node: index))
            return ShardedRestoreState.Node(host: nodeRequest.target.host, port: nodeRequest.target.port, state: state)
        }
        // Planned before anything changes (every slot must have a master); each node is written as its work user,
        // which the fence step creates where Coffer's own user is `default`.
        let writer = try self.plannedWriter(
            request, clusterMode: clusterMode, nodes: nodes,
            targets: targets.indices.map { index in
                ClusterRestoreWriter.Node(
                    endpoint: Self.workEndpoint(requests[index], state: nodes[index].state), slots: targets[index].slots,
                    target: probes[index].target)
            })
        let log = ShardedCheckpointLog(ShardedRestoreState(phase: .fencing, nodes: nodes, clusterMode: clusterMode), save: save)
        try await self.saving { try await log.store() }
        let summary: RestoreWriteSummary
        do {
            try await Self.eachNode(nodes.count) { index in try await self.fence(requests[index], state: nodes[index].state) }
            try await self.saving { try await log.set(phase: .snapshotting) }
            try await Self.eachNode(nodes.count) { index in
                var state = await log.state.nodes[index].state
                try await self.takeSafetySnapshot(
                    requests[index], state: &state,
                    save: { checkpoint in try await log.set(node: index, try RedisRestoreState(checkpoint)) })
            }
            try await self.saving { try await log.set(phase: .writing) }
            let state = await log.state
            summary = try await self.redis(phase: .writing) {
                try await Self.eachNode(nodes.count) { index in
                    try await self.withWorkConnection(requests[index], state: state.nodes[index].state) {
                        try await self.flush($0, target: probes[index].target)
                    }
                }
                return try await self.writeRouted(blobs, with: writer, progress: progress)
            }
            try await self.saving { try await log.set(phase: .completed) }
        } catch {
            let state = await log.state
            throw await self.failed(request, error: error, phase: state.phase) { try await self.rollBackSharded(request, state: state) }
        }
        try await self.cleanUpRetrying(request) { try await self.cleanUpSharded(request, state: await log.state) }
        self.logger.info(
            "DCS restore by slot succeeded",
            metadata: [
                "restore.id": "\(request.restoreID)", "restore.keys": "\(summary.keys)", "restore.nodes": "\(nodes.map(\.address))",
                "restore.files": "\(blobs.count)", "restore.expired_skipped": "\(summary.expiredSkipped)",
            ])
        return RestoreSummary(path: .restoreCommands, keys: summary.keys)
    }

    /// After a crash: the restore had completed (clean up) or is rolled back.
    func recoverSharded(_ request: RedisRestoreRequest, state: ShardedRestoreState) async throws -> RestoreRecovery {
        if state.phase == .completed {
            try await self.redis(phase: .fencing) { try await self.cleanUpSharded(request, state: state) }
            return .completed
        }
        do {
            try await self.rollBackSharded(request, state: state)
        } catch {
            throw Self.restoreError(error, phase: state.phase)
        }
        return .rolledBack
    }

    // MARK: - Steps

    /// The writer for `targets`; a redirect to one of `nodes` works as that node's work user, to any other node as
    /// the instance's own user.
    private func plannedWriter(
        _ request: RedisRestoreRequest, clusterMode: Bool, nodes: [ShardedRestoreState.Node], targets: [ClusterRestoreWriter.Node]
    ) throws -> ClusterRestoreWriter {
        do {
            return try ClusterRestoreWriter(
                nodes: targets, clusterMode: clusterMode, connectTimeout: self.connectTimeout, commandTimeout: self.commandTimeout,
                logger: self.logger,
                endpointFor: { host, port in Self.endpoint(forNode: host, port, request: request, nodes: nodes) })
        } catch let error as ClusterRestoreWriter.PlanError {
            throw RedisRestoreError(.redis, "the target cluster cannot take the restore: \(error)")
        }
    }

    private func writeRouted(
        _ blobs: [any BlobReader], with writer: ClusterRestoreWriter, progress: @escaping @Sendable (Double) async -> Void
    ) async throws -> RestoreWriteSummary {
        let chunks = blobs.map { BlobChunks(blob: $0) }
        let total = Double(max(1, blobs.reduce(Int64(0)) { $0 + $1.size }))
        return try await writer.write(
            files: chunks.map { chunks in { try await chunks.next() } },
            nowMilliseconds: { [clock = self.clock] in Int64((clock().timeIntervalSince1970 * 1000).rounded(.down)) },
            progress: { await progress(min(1, Double($0) / total)) })
    }

    /// Puts every shard back: data from the safety snapshots (when the flush may have run), then each node's
    /// settings, fence and temporaries. A node that cannot be reached any more (a master lost mid-restore) is
    /// skipped for its clean-up: its changes were in its memory only, and its replica has taken its slots.
    private func rollBackSharded(_ request: RedisRestoreRequest, state: ShardedRestoreState) async throws {
        if state.phase == .writing {
            guard state.nodes.allSatisfy(\.state.safetyCommitted) else {
                throw RedisRestoreError(.synchronization, "a safety snapshot is missing: the target cannot be put back")
            }
            // The snapshots are deleted only once the data is back: one missing means a rollback (or the clean-up
            // after it) already ran, and writing the others again would undo nothing; only the clean-up is left.
            var blobs: [any BlobReader] = []
            defer { for blob in blobs { blob.close() } }
            for node in state.nodes {
                guard let blob = try await self.storage({ try await self.blobs.open(key: node.state.safetyBlobKey) }) else {
                    self.logger.notice(
                        "DCS restore rollback: the safety snapshots were written back already", metadata: ["restore.id": "\(request.restoreID)"])
                    return try await self.cleanUpAfterRollback(request, state: state)
                }
                blobs.append(blob)
            }
            // An earlier attempt's writers may still be connected (a node stalled past its lease): closed on every node
            // before any data goes back. A node out of reach has no writer to close; the write-back finds its successor.
            for node in state.nodes {
                await self.closeStalledWriters(Self.nodeRequest(request, host: node.host, port: node.port), state: node.state)
            }
            let deadline = ContinuousClock.now + Self.rollbackWait
            while true {
                do {
                    try await self.writeBack(blobs, request: request, state: state)
                    break
                } catch {
                    guard ContinuousClock.now < deadline, !Task.isCancelled else { throw error }
                    self.logger.warning(
                        "DCS restore rollback: the target cannot take the safety snapshots yet, trying again",
                        metadata: ["restore.id": "\(request.restoreID)", "error": "\(error)"])
                    try await Task.sleep(for: .seconds(2))
                }
            }
        }
        try await self.cleanUpAfterRollback(request, state: state)
    }

    /// Each node's settings, fence and temporaries, then every safety snapshot.
    private func cleanUpAfterRollback(_ request: RedisRestoreRequest, state: ShardedRestoreState) async throws {
        for node in state.nodes {
            var nodeState = node.state
            nodeState.phase = .fencing
            do {
                try await self.rollBack(Self.nodeRequest(request, host: node.host, port: node.port), state: nodeState)
            } catch where Self.isUnreachable(error) {
                self.logger.warning(
                    "DCS restore rollback: a node cannot be reached for its clean-up",
                    metadata: ["restore.id": "\(request.restoreID)", "node": "\(node.address)", "error": "\(error)"])
            }
        }
        try await self.deleteSafetySnapshots(state)
        self.logger.info("DCS restore by slot rolled back", metadata: ["restore.id": "\(request.restoreID)"])
    }

    /// One attempt at writing the safety snapshots back into the masters of the slot map as it is now.
    ///
    /// The map is read here rather than through the inspector: a fenced master answers only the restore's work user
    /// (when Coffer's own user is `default`, it is switched off), and a replica promoted since answers only Coffer's
    /// own user. Every shard needs a healthy master, or this attempt fails and the rollback tries again.
    private func writeBack(_ blobs: [any BlobReader], request: RedisRestoreRequest, state: ShardedRestoreState) async throws {
        let topology = try await self.currentTopology(request, state: state)
        var nodes: [ClusterRestoreWriter.Node] = []
        for shard in topology.shards where state.clusterMode ? !shard.slots.isEmpty : true {
            guard let master = shard.master, master.healthy else {
                throw RedisRestoreError(.redis, "the shard of slots \(shard.slots) has no healthy master yet")
            }
            let endpoint = Self.endpoint(forNode: master.host, master.port, request: request, nodes: state.nodes)
            let server = try await RedisConnection.withConnection(to: endpoint, timeout: self.connectTimeout, logger: self.logger) { connection in
                let info = try await connection.info("server", timeout: self.commandTimeout)
                let server = RestoreTarget(redisVersion: info.redisVersion, valkeyVersion: info.value("valkey_version"))
                try await self.flush(connection, target: server)
                return server
            }
            nodes.append(ClusterRestoreWriter.Node(endpoint: endpoint, slots: shard.slots, target: server))
            if !state.clusterMode { break }
        }
        let writer = try self.plannedWriter(request, clusterMode: state.clusterMode, nodes: state.nodes, targets: nodes)
        _ = try await self.writeRouted(blobs, with: writer, progress: { _ in })
    }

    /// The slot map from the first node that answers: the restore's nodes (as their work user), then every node the
    /// instance knew (as Coffer's own user).
    private func currentTopology(_ request: RedisRestoreRequest, state: ShardedRestoreState) async throws -> RedisTopology {
        var candidates = state.nodes.map { ($0.host, $0.port) }
        for node in request.target.topology?.allNodes ?? [] where !candidates.contains(where: { $0 == (node.host, node.port) }) {
            candidates.append((node.host, node.port))
        }
        var lastError: (any Error)?
        for (host, port) in candidates {
            do {
                let endpoint = Self.endpoint(forNode: host, port, request: request, nodes: state.nodes)
                return try await RedisTopologyReader.read(from: endpoint, timeout: self.connectTimeout, logger: self.logger)
            } catch {
                lastError = error
            }
        }
        throw lastError ?? RedisRestoreError(.redis, "no node of the target answers")
    }

    /// How to reach a node: as its work user when the restore fenced it, as Coffer's own user otherwise.
    static func endpoint(forNode host: String, _ port: Int, request: RedisRestoreRequest, nodes: [ShardedRestoreState.Node]) -> RedisEndpoint {
        let nodeRequest = Self.nodeRequest(request, host: host, port: port)
        guard let node = nodes.first(where: { $0.host == host && $0.port == port }) else { return Self.endpoint(nodeRequest.target) }
        return Self.workEndpoint(nodeRequest, state: node.state)
    }

    private func cleanUpSharded(_ request: RedisRestoreRequest, state: ShardedRestoreState) async throws {
        try await Self.eachNode(state.nodes.count) { index in
            let node = state.nodes[index]
            try await self.cleanUp(Self.nodeRequest(request, host: node.host, port: node.port), state: node.state)
        }
    }

    private func deleteSafetySnapshots(_ state: ShardedRestoreState) async throws {
        for node in state.nodes {
            try await self.storage { try await self.blobs.delete(key: node.state.safetyBlobKey) }
        }
    }

    /// Opens every blob or fails with `.storage` naming the missing one (closing those already open).
    private func openAll(_ keys: [String]) async throws -> [any BlobReader] {
        var blobs: [any BlobReader] = []
        for key in keys {
            do {
                guard let blob = try await self.storage({ try await self.blobs.open(key: key) }) else {
                    throw RedisRestoreError(.storage, "the file \(key) is missing from the blob store")
                }
                blobs.append(blob)
            } catch {
                for blob in blobs { blob.close() }
                throw error
            }
        }
        return blobs
    }

    /// Runs `body` for every node index at once; the first failure cancels the others and is thrown.
    private static func eachNode(_ count: Int, _ body: @escaping @Sendable (Int) async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<count { group.addTask { try await body(index) } }
            try await group.waitForAll()
        }
    }

    /// A connection that could not be made: the node is gone, not refusing.
    private static func isUnreachable(_ error: any Error) -> Bool {
        switch error {
        case RedisError.unreachable, RedisError.connectionClosed, RedisError.timedOut: return true
        default: return false
        }
    }

    /// Runs a checkpoint save; its failures become `.storage` (cancellation stays cancellation).
    func saving(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as RedisRestoreError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw RedisRestoreError(.storage, "could not save the restore checkpoint: \(error)")
        }
    }
}
