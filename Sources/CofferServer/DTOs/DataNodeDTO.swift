import CofferCore

/// A data node as the Coffer extension shows it.
struct DataNodeDTO: Encodable {
    var id: String
    var name: String
    var privateIP: String
    var port: Int
    var engineName: String
    var engineVersion: String
    var created: String

    init(_ node: DataNode) {
        self.id = node.id
        self.name = node.name
        self.privateIP = node.host
        self.port = node.port
        self.engineName = node.engineName
        self.engineVersion = node.engineVersion
        self.created = WireTime.ddm(node.createdAt)
    }

    enum CodingKeys: String, CodingKey {
        case id, name, port, created
        case privateIP = "private_ip"
        case engineName = "engine_name"
        case engineVersion = "engine_version"
    }
}

/// `GET /v3/{project_id}/data-nodes`.
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

/// A data node in `GET /v3/{project_id}/instances/{instance_id}/available-data-nodes` (reference 3.10).
struct AvailableDataNodeDTO: Encodable {
    var id: String
    var status = "normal"
    var name: String
    var engineName: String
    var engineVersion: String
    var privateIP: String
    var port: Int
    var timeZone = "UTC"

    init(_ node: DataNode) {
        self.id = node.id
        self.name = node.name
        self.engineName = node.engineName
        self.engineVersion = node.engineVersion
        self.privateIP = node.host
        self.port = node.port
    }

    enum CodingKeys: String, CodingKey {
        case id, status, name, port
        case engineName = "engine_name"
        case engineVersion = "engine_version"
        case privateIP = "private_ip"
        case timeZone = "time_zone"
    }
}

/// `ListAvailableRdsResponse` (v3): `data_nodes`, `offset`, `limit`, `total`.
struct AvailableDataNodePageDTO: Encodable {
    var dataNodes: [AvailableDataNodeDTO]
    var offset: Int
    var limit: Int
    var total: Int

    enum CodingKeys: String, CodingKey {
        case dataNodes = "data_nodes"
        case offset, limit, total
    }
}

/// `{"id", "name"}` of a registered data node.
struct DataNodeCreatedDTO: Encodable {
    var id: String
    var name: String
}
