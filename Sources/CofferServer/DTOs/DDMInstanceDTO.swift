import CofferCore
import Foundation

/// `ShowInstanceBeanResponse` (list) and the show-instance body: `node_count` an integer, `access_port`,
/// `core_count` and `ram_capacity` strings, `enable_ssl` a real boolean (reference 3.9).
struct DDMInstanceDTO: Encodable {
    var instance: DDMInstance
    var status: String
    var detailed: Bool

    init(instance: DDMInstance, activity: Activity?, detailed: Bool) {
        self.instance = instance
        self.status = Self.status(instance.status, activity)
        self.detailed = detailed
    }

    /// DDM's instance status (reference 3.9): `BACKUP`/`RESTORE` while such a task runs, else the stored one.
    /// The one DDM mapping from what runs on an instance to its wire status.
    static func status(_ stored: String, _ activity: Activity?) -> String {
        switch activity {
        case .backup?: "BACKUP"
        case .restore?: "RESTORE"
        case .delete?, .create?, .maintenance?, nil: stored
        }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: JSONKey.self)
        let i = self.instance
        try c.encode(i.id, forKey: JSONKey("id"))
        try c.encode(self.status, forKey: JSONKey("status"))
        try c.encode(i.name, forKey: JSONKey("name"))
        try c.encode(WireTime.ddm(i.createdAt), forKey: JSONKey("created"))
        try c.encode(WireTime.ddm(i.updatedAt), forKey: JSONKey("updated"))
        try c.encode(i.availableZones.joined(separator: ","), forKey: JSONKey("available_zone"))
        try c.encode(i.vpcID, forKey: JSONKey("vpc_id"))
        try c.encode(i.subnetID, forKey: JSONKey("subnet_id"))
        try c.encode(i.securityGroupID, forKey: JSONKey("security_group_id"))
        try c.encode(i.nodeNum, forKey: JSONKey("node_count"))
        try c.encode("", forKey: JSONKey("access_ip"))
        try c.encode("5066", forKey: JSONKey("access_port"))
        try c.encode("0", forKey: JSONKey("core_count"))
        try c.encode("0", forKey: JSONKey("ram_capacity"))
        try c.encode("normal", forKey: JSONKey("node_status"))
        try c.encode(i.enterpriseProjectID ?? "0", forKey: JSONKey("enterprise_project_id"))
        try c.encode(i.projectID, forKey: JSONKey("project_id"))
        try c.encode(i.engineID, forKey: JSONKey("engine_version"))
        try c.encode(false, forKey: JSONKey("enable_ssl"))
        try c.encode(i.flavorID, forKey: JSONKey("flavor_ref"))
        if self.detailed {
            try c.encode([String](), forKey: JSONKey("nodes"))
            if let admin = i.adminUserName { try c.encode(admin, forKey: JSONKey("admin_user_name")) }
        }
    }
}

/// `ListInstancesResponse` (v1).
struct DDMInstancePageDTO: Encodable {
    var instances: [DDMInstanceDTO]
    var instanceNum: Int
    var pageNo: Int
    var pageSize: Int
    var totalRecord: Int
    var totalPage: Int

    enum CodingKeys: String, CodingKey {
        case instances
        case instanceNum = "instance_num"
        case pageNo = "page_no"
        case pageSize = "page_size"
        case totalRecord = "total_record"
        case totalPage = "total_page"
    }
}

/// `{"id", "job_id"}`: the answer of instance create and delete (reference 3.9).
struct DDMInstanceJobDTO: Encodable {
    var id: String
    var jobID: String

    enum CodingKeys: String, CodingKey {
        case id
        case jobID = "job_id"
    }
}

/// A schema in `GET …/databases` (reference 3.10): `created` is epoch milliseconds (an integer), `used_rds`
/// names the nodes.
struct DDMSchemaDTO: Encodable {
    struct UsedNode: Encodable {
        var id: String
        var name: String
        var status: String
    }

    var name: String
    var shardMode: String
    var shardNumber: Int
    var status = "RUNNING"
    var created: Int64
    var usedRDS: [UsedNode]
    var shardUnit: Int

    init(_ schema: DDMSchema, nodes: [String: DataNode]) {
        self.name = schema.name
        self.shardMode = schema.shardMode
        self.shardNumber = schema.shardNumber
        self.created = WireTime.epochMilliseconds(schema.createdAt)
        self.usedRDS = schema.parts.map { part in
            let node = nodes[part.nodeID]
            return UsedNode(id: part.nodeID, name: node?.name ?? "", status: node == nil ? "abnormal" : "normal")
        }
        self.shardUnit = (schema.shardNumber + schema.parts.count - 1) / max(1, schema.parts.count)
    }

    enum CodingKeys: String, CodingKey {
        case name, status, created
        case shardMode = "shard_mode"
        case shardNumber = "shard_number"
        case usedRDS = "used_rds"
        case shardUnit = "shard_unit"
    }
}

/// `ListDatabasesResponse`: `databases`, `total`.
struct DDMSchemaListDTO: Encodable {
    var databases: [DDMSchemaDTO]
    var total: Int
}

/// `CreateDatabaseResponse`: the names created.
struct DDMSchemasCreatedDTO: Encodable {
    struct Name: Encodable { var name: String }
    var databases: [Name]
}
