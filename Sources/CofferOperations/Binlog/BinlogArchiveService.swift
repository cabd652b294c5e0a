import CofferCore
import CofferMySQL
import Foundation
import Logging
import ServiceLifecycle

/// Runs a `BinlogArchiver` for every data node used by a live DDM instance's schemas, on exactly one Coffer
/// server per node.
///
/// Which server archives a node is a lease in the node's row of `ddm_binlog_nodes` (a conditional UPDATE, the
/// pattern of the automatic backup slots), renewed every third of `leaseDuration`: servers sharing one PostgreSQL
/// split the nodes between them, and a server that dies leaves its nodes to the others once its leases expire.
/// A server that fails to renew stops archiving that node at once; every write of the archiver checks the lease
/// again, so two servers never record the same segment.
package struct BinlogArchiveService: Service {
    let ddm: any DDMStore
    let archive: any BinlogArchiveStore
    let archiver: BinlogArchiver
    let leaseDuration: Duration
    let logger: Logger
    let clock: @Sendable () -> Date

    package init(
        ddm: any DDMStore, archive: any BinlogArchiveStore, blobs: any BlobStore, settings: BinlogArchiver.Settings,
        leaseDuration: Duration = .seconds(30), owner: String = "binlog-" + Identifiers.uuid(), logger: Logger,
        clock: @escaping @Sendable () -> Date
    ) {
        // Archivers and this loop are stopped by cancellation: no store call may be cut in half by it.
        let archive = ShieldedBinlogArchiveStore(base: archive)
        self.ddm = ddm
        self.archive = archive
        self.archiver = BinlogArchiver(store: archive, blobs: blobs, settings: settings, owner: owner, logger: logger, clock: clock)
        self.leaseDuration = leaseDuration
        self.logger = logger
        self.clock = clock
    }

    /// Archives until graceful shutdown or cancellation; then stops every node's archiver (each publishes what it
    /// has streamed) and gives the leases up.
    package func run() async throws {
        var running: [String: Task<Void, Never>] = [:]
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let nodes = try await self.nodes()
                let now = self.clock()
                let until = now.addingTimeInterval(Double(self.leaseDuration.components.seconds))
                for node in nodes {
                    let held = try await self.archive.acquireLease(nodeID: node.id, projectID: node.projectID, owner: self.archiver.owner, until: until, now: now)
                    if held, running[node.id] == nil {
                        let archiver = self.archiver
                        running[node.id] = Task { await archiver.run(node) }
                    } else if !held, let task = running.removeValue(forKey: node.id) {
                        task.cancel()
                    }
                }
                // Nodes no longer used by any schema: stop archiving them (their archive stays).
                for (id, task) in running where !nodes.contains(where: { $0.id == id }) {
                    task.cancel()
                    running[id] = nil
                    try? await self.archive.releaseLease(nodeID: id, owner: self.archiver.owner)
                }
            } catch {
                self.logger.error("Binlog archive supervision failed", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.leaseDuration / 3) }
        }
        for task in running.values { task.cancel() }
        // Not cancelled with this task: each archiver publishes what it streamed, then the lease is given up so
        // another server (or this one, restarted) continues at once instead of after the lease expires.
        let archive = self.archive
        let owner = self.archiver.owner
        let stopping = running
        await Task {
            for (id, task) in stopping {
                await task.value
                try? await archive.releaseLease(nodeID: id, owner: owner)
            }
        }.value
    }

    /// The data nodes of every live instance's schemas, each with the first account a schema uses on it.
    func nodes() async throws -> [BinlogArchiver.Node] {
        let ddm = self.ddm
        return try await Task { try await Self.nodes(of: ddm) }.value
    }

    private static func nodes(of ddm: any DDMStore) async throws -> [BinlogArchiver.Node] {
        var nodes: [BinlogArchiver.Node] = []
        for instance in try await ddm.allInstances() {
            for schema in try await ddm.schemas(projectID: instance.projectID, instanceID: instance.id) {
                for part in schema.parts where !nodes.contains(where: { $0.id == part.nodeID }) {
                    guard let node = try await ddm.dataNode(projectID: instance.projectID, id: part.nodeID) else { continue }
                    nodes.append(
                        BinlogArchiver.Node(
                            id: node.id, projectID: node.projectID,
                            endpoint: MySQLEndpoint(host: node.host, port: node.port, user: part.adminUser, password: part.adminPassword)))
                }
            }
        }
        return nodes
    }
}
