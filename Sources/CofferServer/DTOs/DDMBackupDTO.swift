import CofferCore

/// `ShowBackupResponse` (seed 000): exactly these five fields.
struct BackupDetailDTO: Encodable {
    struct Node: Encodable {
        var instanceID: String
        var instanceName: String
        enum CodingKeys: String, CodingKey {
            case instanceID = "instance_id"
            case instanceName = "instance_name"
        }
    }

    var id: String
    var name: String
    var instanceID: String
    var instanceName: String
    var relatedDataNodes: [Node]

    init(_ backup: DDMBackup) {
        self.id = backup.id
        self.name = backup.name
        self.instanceID = backup.instanceID
        self.instanceName = backup.instanceName
        self.relatedDataNodes = backup.relatedNodes.map { Node(instanceID: $0.id, instanceName: $0.name) }
    }

    enum CodingKeys: String, CodingKey {
        case id, name
        case instanceID = "instance_id"
        case instanceName = "instance_name"
        case relatedDataNodes = "related_data_nodes"
    }
}

/// `BackupInfo` of the list (reference 3.3): `file_size` in KB as a number, DDM timestamps.
struct BackupInfoDTO: Encodable {
    var backup: DDMBackup
    var instanceStatus: String

    enum CodingKeys: String, CodingKey {
        case id, name, description, status, created, updated
        case instanceID = "instance_id"
        case instanceName = "instance_name"
        case instanceStatus = "instance_status"
        case fileSize = "file_size"
        case backupType = "backup_type"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        let b = self.backup
        try c.encode(b.id, forKey: .id)
        try c.encode(b.name, forKey: .name)
        try c.encode(b.description, forKey: .description)
        try c.encode(b.status.rawValue, forKey: .status)
        try c.encode(b.instanceID, forKey: .instanceID)
        try c.encode(b.instanceName, forKey: .instanceName)
        try c.encode(self.instanceStatus, forKey: .instanceStatus)
        try c.encode((Double(b.size) / 1024 * 1_000_000).rounded() / 1_000_000, forKey: .fileSize)
        try c.encode(WireTime.ddm(b.createdAt), forKey: .created)
        try c.encode(WireTime.ddm(b.updatedAt), forKey: .updated)
        try c.encode(b.backupType, forKey: .backupType)
    }
}

/// `ListBackupsResponse`.
struct BackupPageDTO: Encodable {
    var total: Int
    var offset: Int
    var limit: Int
    var backups: [BackupInfoDTO]
}
