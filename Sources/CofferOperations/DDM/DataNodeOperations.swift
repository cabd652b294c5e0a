import CofferCore
import CofferMySQL
import Foundation
import Logging

/// Data nodes: MySQL-compatible servers registered for DDM schemas (Huawei: RDS instances).
package struct DataNodeOperations: Sendable {
    let store: any DDMStore
    let inspector: MySQLInspector
    let clock: @Sendable () -> Date

    package init(store: any DDMStore, inspector: MySQLInspector, clock: @escaping @Sendable () -> Date) {
        self.store = store
        self.inspector = inspector
        self.clock = clock
    }

    /// Registers the server at `host:port` after reading its handshake (engine name and version).
    /// - Throws: 400 `DBS.280001` naming the address when nothing MySQL-like answers there.
    package func register(projectID: String, name: String, host: String, port: Int, logger: Logger) async throws -> DataNode {
        let info = try await self.inspector.handshake(host: host, port: port)
        let node = DataNode(
            id: Identifiers.ddm(suffix: "in01"), projectID: projectID, name: name, host: host, port: port, engineName: info.engineName,
            engineVersion: info.engineVersion, createdAt: self.clock())
        try await self.store.insertDataNode(node)
        logger.info("Data node registered", metadata: ["ddm.node.id": "\(node.id)", "ddm.node.address": "\(node.address)"])
        return node
    }

    /// A page of the project's data nodes.
    package func list(projectID: String, offset: Int, limit: Int) async throws -> Page<DataNode> {
        try await self.store.dataNodes(projectID: projectID, offset: offset, limit: limit)
    }

    /// The node, or 400 `DBS.280001` for a malformed id and 404 `DBS.200004` for an unknown one.
    package func node(projectID: String, id: String) async throws -> DataNode {
        guard Identifiers.isDDM(id, suffix: "in01") else { throw DDMError.invalidParameter("node_id", "Expected 32 hex characters and in01.") }
        guard let node = try await self.store.dataNode(projectID: projectID, id: id) else { throw DDMError.dataNodeNotFound }
        return node
    }

    /// Removes the node; refused while a schema of a live instance uses it.
    package func delete(projectID: String, id: String) async throws {
        let node = try await self.node(projectID: projectID, id: id)
        guard try await !self.store.dataNodeInUse(projectID: node.projectID, id: node.id) else { throw DDMError.dataNodeInUse }
        try await self.store.deleteDataNode(projectID: node.projectID, id: node.id)
    }
}
