import CofferCore

/// An `InstanceRestoreInfo` (reference 2.7): every field a string, `progress` as `"42.10"`, `error_code` and the
/// remarks strings or absent (never `{}`).
struct RestoreRecordDTO: Encodable {
    var record: DCSRestoreRecord

    enum CodingKeys: String, CodingKey {
        case backupID = "backup_id", restoreID = "restore_id", backupName = "backup_name", updatedAt = "updated_at"
        case restoreRemark = "restore_remark", createdAt = "created_at", progress, errorCode = "error_code"
        case restoreName = "restore_name", backupRemark = "backup_remark", status
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        let r = self.record
        try c.encode(r.backupID, forKey: .backupID)
        try c.encode(r.id, forKey: .restoreID)
        try c.encode(r.backupName, forKey: .backupName)
        try c.encode(WireTime.dcs(r.updatedAt), forKey: .updatedAt)
        try c.encodeIfPresent(r.remark, forKey: .restoreRemark)
        try c.encode(WireTime.dcs(r.createdAt), forKey: .createdAt)
        try c.encode(BackupRecordDTO.wire(r.progress), forKey: .progress)
        try c.encodeIfPresent(r.errorCode?.rawValue, forKey: .errorCode)
        try c.encode(r.name, forKey: .restoreName)
        try c.encodeIfPresent(r.backupRemark, forKey: .backupRemark)
        try c.encode(r.status.rawValue, forKey: .status)
    }
}

/// `ListRestoreRecordsResponse`.
struct RestoreRecordListDTO: Encodable {
    var totalNum: Int
    var records: [RestoreRecordDTO]

    enum CodingKeys: String, CodingKey {
        case totalNum = "total_num"
        case records = "restore_record_response"
    }
}
