import CofferCore
import CofferOperations
import Foundation

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

    init(backup: DDMBackup, instance: DDMBackupOperations.InstanceState) {
        self.backup = backup
        switch instance {
        case .deleted: self.instanceStatus = "deleted"
        case .idle: self.instanceStatus = "normal"
        case .busy(let activity): self.instanceStatus = DDMInstanceDTO.status("normal", activity)
        }
    }

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

/// `{"job_id", "backup_id"}`: a backup was queued.
struct BackupCreatedDTO: Encodable {
    var jobID: String
    var backupID: String

    enum CodingKeys: String, CodingKey {
        case jobID = "job_id"
        case backupID = "backup_id"
    }
}

/// `{"job_id"}`: a DDM job was queued (backup delete).
struct JobCreatedDTO: Encodable {
    var jobID: String

    enum CodingKeys: String, CodingKey { case jobID = "job_id" }
}

/// A data node of the backup usable at a point in time (reference 3.5a).
struct RelatedDataNodeDTO: Encodable {
    var instanceID: String
    var instanceName: String
    var instanceStatus: String
    var dataVolumeSize: Int64
    var version: String
    var engineName: String

    init(_ related: DDMBackup.RelatedNode, backup: DDMBackup, node: DataNode?) {
        self.instanceID = related.id
        self.instanceName = related.name
        self.instanceStatus = node == nil ? "abnormal" : "normal"
        self.dataVolumeSize = backup.files.first { $0.nodeID == related.id }?.size ?? 0
        self.version = node?.engineVersion ?? ""
        self.engineName = node?.engineName ?? ""
    }

    enum CodingKeys: String, CodingKey {
        case version
        case instanceID = "instance_id"
        case instanceName = "instance_name"
        case instanceStatus = "instance_status"
        case dataVolumeSize = "data_volume_size"
        case engineName = "engine_name"
    }
}

/// `ListRelatedDnResponse`: a page of nodes, and the newest restorable time when any backup is usable.
struct RelatedDataNodePageDTO: Encodable {
    var relatedDataNodes: [RelatedDataNodeDTO]
    var offset: Int
    var limit: Int
    var total: Int
    var latestRestorableTime: String?

    enum CodingKeys: String, CodingKey {
        case offset, limit, total
        case relatedDataNodes = "related_data_nodes"
        case latestRestorableTime = "latest_restorable_time"
    }
}

/// One restorable window (`RestoreTimeInterval`): DDM's second-precision UTC format, the instants truncated to the
/// second like every DDM time Coffer writes.
struct RestorableTimeIntervalDTO: Encodable {
    var startTime: String
    var endTime: String

    init(_ window: DateInterval) {
        self.startTime = WireTime.ddm(window.start)
        self.endTime = WireTime.ddm(window.end)
    }

    enum CodingKeys: String, CodingKey {
        case startTime = "start_time"
        case endTime = "end_time"
    }
}

/// `ShowAvalibleTimeResponse`.
struct RestorableTimeIntervalPageDTO: Encodable {
    var restorableTimeIntervals: [RestorableTimeIntervalDTO]
    var offset: Int
    var limit: Int
    var total: Int

    enum CodingKeys: String, CodingKey {
        case offset, limit, total
        case restorableTimeIntervals = "restorable_time_intervals"
    }
}

/// `DDMInstance4Restore` (reference 3.5b): `available` a real boolean, `unavailable_reason` `""` when available;
/// `vpc_name` is the VPC id, the only VPC name Coffer records.
struct RestorableInstanceDTO: Encodable {
    var instanceName: String
    var instanceID: String
    var status: String
    var available: Bool
    var unavailableReason: String
    var vpcName: String

    init(instance: DDMInstance, activity: Activity?, reason: String?) {
        self.instanceName = instance.name
        self.instanceID = instance.id
        self.status = DDMInstanceDTO.status(instance.status, activity)
        self.available = reason == nil
        self.unavailableReason = reason ?? ""
        self.vpcName = instance.vpcID
    }

    enum CodingKeys: String, CodingKey {
        case status, available
        case instanceName = "instance_name"
        case instanceID = "instance_id"
        case unavailableReason = "unavailable_reason"
        case vpcName = "vpc_name"
    }
}

/// `ShowAvalibleDdmsResponse`.
struct RestorableInstancePageDTO: Encodable {
    var instances: [RestorableInstanceDTO]
    var offset: Int
    var limit: Int
    var total: Int
}

/// `TargetDn4Restore` (reference 3.5c). A node the target's schema names but that is no longer registered shows
/// its id, `abnormal` and empty strings, so the caller sees why it is unavailable.
struct RestorableDataNodeDTO: Encodable {
    var instanceName: String
    var instanceID: String
    var engineName: String
    var status: String
    var available: Bool
    var unavailableReason: String
    var vpcName: String
    var privateIP: String

    init(nodeID: String, node: DataNode?, reason: String?, target: DDMInstance) {
        self.instanceName = node?.name ?? ""
        self.instanceID = nodeID
        self.engineName = node?.engineName ?? ""
        self.status = node == nil ? "abnormal" : "normal"
        self.available = reason == nil
        self.unavailableReason = reason ?? ""
        self.vpcName = target.vpcID
        self.privateIP = node?.host ?? ""
    }

    enum CodingKeys: String, CodingKey {
        case status, available
        case instanceName = "instance_name"
        case instanceID = "instance_id"
        case engineName = "engine_name"
        case unavailableReason = "unavailable_reason"
        case vpcName = "vpc_name"
        case privateIP = "private_ip"
    }
}

/// `ShowAvalibleRdsResponse`.
struct RestorableDataNodePageDTO: Encodable {
    var targetDataNodes: [RestorableDataNodeDTO]
    var offset: Int
    var limit: Int
    var total: Int

    enum CodingKeys: String, CodingKey {
        case offset, limit, total
        case targetDataNodes = "target_data_nodes"
    }
}
