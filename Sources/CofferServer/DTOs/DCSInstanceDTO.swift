import CofferCore
import CofferOperations
import Foundation

/// An instance as `list_instances` and `show_instance` return it, with the SDK's field names and JSON
/// types (`no_password_access` is a string, `capacity` an integer beside `capacity_minor`).
struct DCSInstanceDTO: Encodable {
    var instance: DCSInstance
    /// Live facts; nil when the server could not be reached (status then reads `ERROR`).
    var facts: RedisFacts?
    /// What runs on the instance, nil when idle; shown as DCS's `task` name.
    var activity: Activity?
    /// Show-instance adds the policy and the task; list leaves them out.
    var detailed: Bool
    var topology: DCSTopology?

    init(view: DCSInstanceView, detailed: Bool) {
        self.instance = view.instance
        self.facts = view.facts
        self.activity = view.activity
        self.detailed = detailed
        self.topology = view.topology
    }

    /// Why the status reads `ERROR`, or nil: no node answered, or a shard has no reachable node.
    var errorReason: String? {
        if self.facts == nil { return "Coffer cannot reach the Redis server at \(self.instance.address)." }
        return self.topology?.unreachableReason
    }

    /// DCS's `cache_mode`: `single`, `ha` (master/standby) or `cluster` (Redis Cluster).
    static func cacheMode(_ kind: DCSTopology.Kind) -> String {
        switch kind {
        case .single: "single"
        case .masterStandby: "ha"
        case .cluster: "cluster"
        }
    }

    /// DCS's `task` names (reference 2.10: Terraform treats any non-null task as an operation in progress).
    static func taskName(_ activity: Activity) -> String {
        switch activity {
        case .backup: "BACKUPING"
        case .restore: "RESTORING"
        case .delete: "DELETING"
        case .create, .maintenance: "RUNNING_TASK"
        }
    }

    private struct PolicyDTO: Encodable {
        var stored: StoredBackupPolicy
        var tenantID: String
        enum CodingKeys: String, CodingKey {
            case backupPolicyID = "backup_policy_id"
            case createdAt = "created_at"
            case updatedAt = "updated_at"
            case policy
            case tenantID = "tenant_id"
        }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(self.stored.id, forKey: .backupPolicyID)
            try c.encode(WireTime.dcs(self.stored.createdAt), forKey: .createdAt)
            try c.encode(WireTime.dcs(self.stored.updatedAt), forKey: .updatedAt)
            try c.encode(self.stored.policy, forKey: .policy)
            try c.encode(self.tenantID, forKey: .tenantID)
        }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: JSONKey.self)
        let i = self.instance
        // Fields accepted at create time and kept as given.
        for (name, value) in i.extra.sorted(by: { $0.key < $1.key }) where Self.passThrough.contains(name) {
            try c.encode(value, forKey: JSONKey(name))
        }
        try c.encode(i.id, forKey: JSONKey("instance_id"))
        try c.encode(i.name, forKey: JSONKey("name"))
        try c.encode("Redis", forKey: JSONKey("engine"))
        try c.encode(self.facts?.engineVersion ?? i.requestedEngineVersion ?? "", forKey: JSONKey("engine_version"))
        let reason = self.errorReason
        try c.encode(reason == nil ? i.status : "ERROR", forKey: JSONKey("status"))
        // Not in the SDK's model (it ignores unknown fields, as it does `task`): the reason behind `ERROR`.
        if let reason { try c.encode(reason, forKey: JSONKey("status_reason")) }
        // `Int(exactly:)`: a capacity stored before create bounded it (1e300) must not trap on every read.
        try c.encode(Int(exactly: i.capacityGB.rounded(.down)) ?? 0, forKey: JSONKey("capacity"))
        // Sub-GB sizes (0.125 …) only fit in the string field; whole sizes leave it empty, as DCS does.
        try c.encode(i.capacityGB < 1 && i.capacityGB > 0 ? Self.minor(i.capacityGB) : "", forKey: JSONKey("capacity_minor"))
        let mib = 1024 * 1024
        if let facts = self.facts {
            let max = facts.maxMemory > 0 ? facts.maxMemory : (facts.totalSystemMemory ?? 0)
            try c.encode(max / mib, forKey: JSONKey("max_memory"))
            try c.encode(facts.usedMemory / mib, forKey: JSONKey("used_memory"))
        }
        if let topology = self.topology {
            // `ip` lists every shard's master for a cluster (comma-separated, as DCS does); `backend_addrs` every node.
            let masters = topology.kind == .cluster ? topology.shards.compactMap(\.master) : []
            try c.encode(masters.isEmpty ? i.host : masters.map(\.host).joined(separator: ","), forKey: JSONKey("ip"))
            try c.encode(topology.allNodes.map(\.address).joined(separator: ","), forKey: JSONKey("backend_addrs"))
            try c.encode(Self.cacheMode(topology.kind), forKey: JSONKey("cache_mode"))
            try c.encode(topology.kind == .cluster ? topology.shards.count : 1, forKey: JSONKey("sharding_count"))
            try c.encode(topology.replicaCount, forKey: JSONKey("replica_count"))
        } else {
            try c.encode(i.host, forKey: JSONKey("ip"))
        }
        try c.encode(i.host, forKey: JSONKey("domain_name"))
        try c.encode(i.port, forKey: JSONKey("port"))
        if let spec = i.specCode { try c.encode(spec, forKey: JSONKey("spec_code")) }
        try c.encode(0, forKey: JSONKey("charging_mode"))
        try c.encode(WireTime.dcs(i.createdAt), forKey: JSONKey("created_at"))
        try c.encode(WireTime.dcs(i.updatedAt), forKey: JSONKey("updated_at"))
        try c.encode(i.password == nil ? "true" : "false", forKey: JSONKey("no_password_access"))
        if let user = i.accessUser { try c.encode(user, forKey: JSONKey("access_user")) }
        try c.encode(false, forKey: JSONKey("enable_ssl"))
        try c.encode(false, forKey: JSONKey("enable_publicip"))
        if i.extra["az_codes"] == nil { try c.encode([String](), forKey: JSONKey("az_codes")) }
        if i.extra["tags"] == nil { try c.encode([JSONValue](), forKey: JSONKey("tags")) }
        if let description = i.description { try c.encode(description, forKey: JSONKey("description")) }
        try c.encode(i.projectID, forKey: JSONKey("project_id"))
        if self.detailed {
            if let policy = i.backupPolicy {
                try c.encode(PolicyDTO(stored: policy, tenantID: i.projectID), forKey: JSONKey("instance_backup_policy"))
            } else {
                try c.encodeNil(forKey: JSONKey("instance_backup_policy"))
            }
            if let task = self.activity.map(Self.taskName) { try c.encode(task, forKey: JSONKey("task")) } else { try c.encodeNil(forKey: JSONKey("task")) }
            try c.encode(WireTime.dcs(i.updatedAt), forKey: JSONKey("update_at"))
            try c.encode(WireTime.dcs(i.createdAt), forKey: JSONKey("launched_at"))
            if let codes = i.extra["az_codes"] { try c.encode(codes, forKey: JSONKey("available_zones")) }
        }
    }

    /// Create-time fields that show/list report back unchanged.
    static let passThrough: Set<String> = [
        "vpc_id", "vpc_name", "subnet_id", "security_group_id", "az_codes", "tags", "enterprise_project_id",
        "enterprise_project_name", "maintain_begin", "maintain_end", "template_id", "publicip_id",
    ]

    private static func minor(_ capacity: Double) -> String {
        var text = String(format: "%.3f", capacity)
        while text.hasSuffix("0") { text.removeLast() }
        return text
    }
}
