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
