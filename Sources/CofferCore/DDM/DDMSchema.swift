import Foundation

/// A logical schema of a DDM instance, sharded over data nodes.
package struct DDMSchema: Sendable, Equatable {
    /// One data node's part of the schema: the account Coffer uses on it and the physical databases (shards) it holds.
    package struct NodePart: Sendable, Equatable, Codable {
        package var nodeID: String
        package var adminUser: String
        /// Plain text in memory only; the store seals it.
        package var adminPassword: String
        /// `<schema>_0000`, `<schema>_0001`, … in shard order.
        package var databases: [String]

        package init(nodeID: String, adminUser: String, adminPassword: String, databases: [String]) {
            self.nodeID = nodeID
            self.adminUser = adminUser
            self.adminPassword = adminPassword
            self.databases = databases
        }
    }

    package var projectID: String
    package var instanceID: String
    package var name: String
    /// `cluster` | `single`.
    package var shardMode: String
    package var shardNumber: Int
    package var parts: [NodePart]
    package var createdAt: Date

    package init(projectID: String, instanceID: String, name: String, shardMode: String, shardNumber: Int, parts: [NodePart], createdAt: Date) {
        self.projectID = projectID
        self.instanceID = instanceID
        self.name = name
        self.shardMode = shardMode
        self.shardNumber = shardNumber
        self.parts = parts
        self.createdAt = createdAt
    }

    /// Physical database names, as DDM names them: `<schema>_0000` …
    package static func physicalName(schema: String, shard: Int) -> String {
        schema + "_" + String(repeating: "0", count: max(0, 4 - String(shard).count)) + String(shard)
    }

    /// Spreads `shardNumber` shards over `nodeCount` nodes round-robin: shard i on node i mod n.
    package static func layout(schema: String, shardNumber: Int, nodeCount: Int) -> [[String]] {
        var layout = [[String]](repeating: [], count: nodeCount)
        for shard in 0..<shardNumber { layout[shard % nodeCount].append(Self.physicalName(schema: schema, shard: shard)) }
        return layout
    }
}
