import CofferCore

/// A data node as Coffer's extension shows it (`created`), and as DDM's available-data-nodes list shows it
/// (`status`, `time_zone`): one shape, with the fields of each view present only there.
struct DataNodeDTO: Encodable {
    var id: String
    var status: String?
    var name: String
    var privateIP: String
    var port: Int
    var engineName: String
    var engineVersion: String
    var timeZone: String?
    var created: String?

    /// The Coffer extension's view (`GET /v3/{project_id}/data-nodes…`).
    init(_ node: DataNode) {
        self.init(node, available: false)
    }

    /// - Parameter available: the view of `GET /v3/{project_id}/instances/{instance_id}/available-data-nodes`.
    init(_ node: DataNode, available: Bool) {
        self.id = node.id
        self.name = node.name
        self.privateIP = node.host
        self.port = node.port
        self.engineName = node.engineName
        self.engineVersion = node.engineVersion
        if available {
            self.status = "normal"
            self.timeZone = "UTC"
        } else {
            self.created = WireTime.ddm(node.createdAt)
        }
    }

    enum CodingKeys: String, CodingKey {
        case id, status, name, port, created
        case privateIP = "private_ip"
        case engineName = "engine_name"
        case engineVersion = "engine_version"
        case timeZone = "time_zone"
    }
}

/// `GET /v3/{project_id}/data-nodes` and `ListAvailableRdsResponse` (v3): `data_nodes`, `offset`, `limit`, `total`.
struct DataNodePageDTO: Encodable {
    var dataNodes: [DataNodeDTO]
    var offset: Int
    var limit: Int
    var total: Int

    enum CodingKeys: String, CodingKey {
        case dataNodes = "data_nodes"
        case offset, limit, total
    }
}

/// A data node in `GET /v1/{project_id}/instances/{instance_id}/rds`: camelCase keys (reference 3.10).
struct RDSNodeDTO: Encodable {
    var id: String
    var projectId: String
    var status = "normal"
    var name: String
    var engineName: String
    var engineSoftwareVersion: String
    var privateIp: String
    var mode = "Single"
    var port: Int
    var azCode: String
    var timeZone = "UTC"

    init(_ node: DataNode, zone: String) {
        self.id = node.id
        self.projectId = node.projectID
        self.name = node.name
        self.engineName = node.engineName
        self.engineSoftwareVersion = node.engineVersion
        self.privateIp = node.host
        self.port = node.port
        self.azCode = zone
    }
}

/// `ListRdsResponse` (v1): `instances`, `offset`, `limit`, `total`.
struct RDSNodePageDTO: Encodable {
    var instances: [RDSNodeDTO]
    var offset: Int
    var limit: Int
    var total: Int
}

/// `{"id", "name"}` of a registered data node.
struct DataNodeCreatedDTO: Encodable {
    var id: String
    var name: String
}
