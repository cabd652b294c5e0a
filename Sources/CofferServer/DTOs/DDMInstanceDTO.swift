import CofferCore

/// `ShowInstanceBeanResponse` (list) and the show-instance body: `node_count` an integer, `access_port`,
/// `core_count` and `ram_capacity` strings, `enable_ssl` a real boolean (reference 3.9).
struct DDMInstanceDTO: Encodable {
    var instance: DDMInstance
    var status: String
    var detailed: Bool

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { self.stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        let i = self.instance
        try c.encode(i.id, forKey: Key("id"))
        try c.encode(self.status, forKey: Key("status"))
        try c.encode(i.name, forKey: Key("name"))
        try c.encode(WireTime.ddm(i.createdAt), forKey: Key("created"))
        try c.encode(WireTime.ddm(i.updatedAt), forKey: Key("updated"))
        try c.encode(i.availableZones.joined(separator: ","), forKey: Key("available_zone"))
        try c.encode(i.vpcID, forKey: Key("vpc_id"))
        try c.encode(i.subnetID, forKey: Key("subnet_id"))
        try c.encode(i.securityGroupID, forKey: Key("security_group_id"))
        try c.encode(i.nodeNum, forKey: Key("node_count"))
        try c.encode("", forKey: Key("access_ip"))
        try c.encode("5066", forKey: Key("access_port"))
        try c.encode("0", forKey: Key("core_count"))
        try c.encode("0", forKey: Key("ram_capacity"))
        try c.encode("normal", forKey: Key("node_status"))
        try c.encode(i.enterpriseProjectID ?? "0", forKey: Key("enterprise_project_id"))
        try c.encode(i.projectID, forKey: Key("project_id"))
        try c.encode(i.engineID, forKey: Key("engine_version"))
        try c.encode(false, forKey: Key("enable_ssl"))
        try c.encode(i.flavorID, forKey: Key("flavor_ref"))
        if self.detailed {
            try c.encode([String](), forKey: Key("nodes"))
            if let admin = i.adminUserName { try c.encode(admin, forKey: Key("admin_user_name")) }
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
