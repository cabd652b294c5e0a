import CofferCore

/// A `BackupRecordResponse`: strings stay strings (`progress`, `is_support_restore`), `size` is an
/// integer, and `period`/`error_code` are strings or absent, never `{}` (reference 2.9).
///
/// The only place the wire forms exist: the record is typed (a flag, hundredths of a percent, enums),
/// and this type turns it into `"TRUE"`/`"FALSE"` and `"42.10"`.
struct BackupRecordDTO: Encodable {
    var record: DCSBackupRecord

    enum CodingKeys: String, CodingKey {
        case backupID = "backup_id", period, backupName = "backup_name", instanceID = "instance_id", size
        case backupType = "backup_type", createdAt = "created_at", updatedAt = "updated_at", progress
        case errorCode = "error_code", remark, status, isSupportRestore = "is_support_restore"
        case backupFormat = "backup_format", executionAt = "execution_at"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        let r = self.record
        try c.encode(r.id, forKey: .backupID)
        try c.encodeIfPresent(r.period, forKey: .period)
        try c.encode(r.name, forKey: .backupName)
        try c.encode(r.instanceID, forKey: .instanceID)
        try c.encode(r.size, forKey: .size)
        try c.encode(r.backupType.rawValue, forKey: .backupType)
        try c.encode(WireTime.dcs(r.createdAt), forKey: .createdAt)
        try c.encode(WireTime.dcs(r.updatedAt), forKey: .updatedAt)
        try c.encode(Self.wire(r.progress), forKey: .progress)
        try c.encodeIfPresent(r.errorCode, forKey: .errorCode)
        try c.encodeIfPresent(r.remark, forKey: .remark)
        try c.encode(r.status.rawValue, forKey: .status)
        try c.encode(r.isSupportRestore ? "TRUE" : "FALSE", forKey: .isSupportRestore)
        try c.encode(r.backupFormat.rawValue, forKey: .backupFormat)
        try c.encodeIfPresent(r.executionAt.map(WireTime.dcs), forKey: .executionAt)
    }

    /// The record as `JSONBytes`, keys sorted: what `encode(to:)` gives under a sorted-keys `JSONEncoder`,
    /// byte for byte (`BackupRecordJSONTests` holds the two equal).
    func write(to json: inout JSONBytes) {
        let r = self.record
        json.raw("{")
        json.key("backup_format", first: true)
        json.string(r.backupFormat.rawValue)
        json.key("backup_id")
        json.string(r.id)
        json.key("backup_name")
        json.string(r.name)
        json.key("backup_type")
        json.string(r.backupType.rawValue)
        json.key("created_at")
        json.quoted { WireTime.appendDCS(r.createdAt, to: &$0) }
        if let errorCode = r.errorCode {
            json.key("error_code")
            json.string(errorCode)
        }
        if let executionAt = r.executionAt {
            json.key("execution_at")
            json.quoted { WireTime.appendDCS(executionAt, to: &$0) }
        }
        json.key("instance_id")
        json.string(r.instanceID)
        json.key("is_support_restore")
        json.raw(r.isSupportRestore ? "\"TRUE\"" : "\"FALSE\"")
        if let period = r.period {
            json.key("period")
            json.string(period)
        }
        json.key("progress")
        json.string(Self.wire(r.progress))
        if let remark = r.remark {
            json.key("remark")
            json.string(remark)
        }
        json.key("size")
        json.int(r.size)
        json.key("status")
        json.string(r.status.rawValue)
        json.key("updated_at")
        json.quoted { WireTime.appendDCS(r.updatedAt, to: &$0) }
        json.raw("}")
    }

    /// `"42.10"`: the percentage with exactly two decimals, as `%.2f` printed it (without Foundation's
    /// formatter, which costs more than the rest of the record on a list page).
    static func wire(_ progress: DCSBackupRecord.Progress) -> String {
        let fraction = progress.hundredths % 100
        return "\(progress.hundredths / 100)." + (fraction < 10 ? "0" : "") + "\(fraction)"
    }
}

/// `ListBackupRecordsResponse`.
struct BackupRecordListDTO: Encodable {
    var totalNum: Int
    var records: [BackupRecordDTO]

    enum CodingKeys: String, CodingKey {
        case totalNum = "total_num"
        case records = "backup_record_response"
    }

    /// The body without `JSONEncoder`, which was a tenth of a list request's CPU: the same bytes a
    /// sorted-keys encoder makes of `encode(to:)` (`BackupRecordJSONTests`).
    var json: JSONBytes {
        var json = JSONBytes(capacity: 64 + 512 * self.records.count)
        json.raw("{")
        json.key("backup_record_response", first: true)
        json.raw("[")
        for (index, record) in self.records.enumerated() {
            if index > 0 { json.raw(",") }
            record.write(to: &json)
        }
        json.raw("]")
        json.key("total_num")
        json.int(self.totalNum)
        json.raw("}")
        return json
    }
}
