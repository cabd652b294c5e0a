import CofferCore

/// Migration tasks as the SDK's `ShowMigrationTaskResponse` and `MigrationTaskList` read them. Coffer's only kind
/// is a `backupfile_import` of a backup record with `full_amount_migration`; the state comes from its restore.
enum MigrationTaskWire {
    static let migrationType = "backupfile_import"
    static let migrationMethod = "full_amount_migration"
    static let fileSource = "backup_record"

    /// `MIGRATING`, `SUCCESS`, `FAILED` (`TERMINATED` is a stopped task, and Coffer has no stop).
    static func status(_ status: DCSRestoreRecord.Status) -> String {
        switch status {
        case .waiting, .restoring: "MIGRATING"
        case .succeed: "SUCCESS"
        case .failed: "FAILED"
        }
    }

    /// The error message a failed task shows: the restore's failure code and what it means.
    static func errorMessage(_ failure: BackupFailure?) -> String? {
        failure.map { code in
            switch code {
            case .redis: "\(code.rawValue): the target Redis could not be reached or refused the login."
            case .timedOut: "\(code.rawValue): the restore was interrupted or timed out; the target was rolled back."
            case .storage: "\(code.rawValue): the backup file could not be read."
            case .synchronization: "\(code.rawValue): the target refused the data; it was rolled back."
            case .scheduleMissed: "\(code.rawValue): the task could not start."
            }
        }
    }
}

/// `CreateMigrationTaskResponse`.
struct MigrationTaskCreatedDTO: Encodable {
    var task: DCSRestoreRecord

    enum CodingKeys: String, CodingKey { case id, name, status }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(self.task.id, forKey: .id)
        try c.encode(self.task.migrationTask?.name ?? self.task.name, forKey: .name)
        try c.encode(MigrationTaskWire.status(self.task.status), forKey: .status)
    }
}

/// `ShowMigrationTaskResponse`.
struct MigrationTaskDTO: Encodable {
    var task: DCSRestoreRecord
    /// The target instance; nil when it was deleted since.
    var target: DCSInstance?

    enum CodingKeys: String, CodingKey {
        case taskID = "task_id", taskName = "task_name", description, status, migrationType = "migration_type"
        case migrationMethod = "migration_method", backupFiles = "backup_files", targetInstance = "target_instance"
        case createdAt = "created_at", updatedAt = "updated_at"
    }

    private struct BackupFiles: Encodable {
        var backupID: String
        enum CodingKeys: String, CodingKey { case fileSource = "file_source", backupID = "backup_id" }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(MigrationTaskWire.fileSource, forKey: .fileSource)
            try c.encode(self.backupID, forKey: .backupID)
        }
    }

    private struct Target: Encodable {
        var id: String
        var name: String?
        var addrs: String?
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        let t = self.task
        try c.encode(t.id, forKey: .taskID)
        try c.encode(t.migrationTask?.name ?? t.name, forKey: .taskName)
        try c.encodeIfPresent(t.migrationTask?.description, forKey: .description)
        try c.encode(MigrationTaskWire.status(t.status), forKey: .status)
        try c.encode(MigrationTaskWire.migrationType, forKey: .migrationType)
        try c.encode(MigrationTaskWire.migrationMethod, forKey: .migrationMethod)
        try c.encode(BackupFiles(backupID: t.backupID), forKey: .backupFiles)
        try c.encode(Target(id: t.instanceID, name: self.target?.name, addrs: self.target?.address), forKey: .targetInstance)
        try c.encode(WireTime.dcs(t.createdAt), forKey: .createdAt)
        try c.encode(WireTime.dcs(t.updatedAt), forKey: .updatedAt)
    }
}

/// One `MigrationTaskList` item.
struct MigrationTaskListItemDTO: Encodable {
    var task: DCSRestoreRecord
    var target: DCSInstance?

    enum CodingKeys: String, CodingKey {
        case taskID = "task_id", taskName = "task_name", status, migrationType = "migration_type"
        case migrationMethod = "migration_method", dataSource = "data_source", targetInstanceAddrs = "target_instance_addrs"
        case targetInstanceName = "target_instance_name", targetInstanceID = "target_instance_id", createdAt = "created_at"
        case description, errorMessage = "error_message"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        let t = self.task
        try c.encode(t.id, forKey: .taskID)
        try c.encode(t.migrationTask?.name ?? t.name, forKey: .taskName)
        try c.encode(MigrationTaskWire.status(t.status), forKey: .status)
        try c.encode(MigrationTaskWire.migrationType, forKey: .migrationType)
        try c.encode(MigrationTaskWire.migrationMethod, forKey: .migrationMethod)
        try c.encode(t.backupName, forKey: .dataSource)
        try c.encodeIfPresent(self.target?.address, forKey: .targetInstanceAddrs)
        try c.encodeIfPresent(self.target?.name, forKey: .targetInstanceName)
        try c.encode(t.instanceID, forKey: .targetInstanceID)
        try c.encode(WireTime.dcs(t.createdAt), forKey: .createdAt)
        try c.encodeIfPresent(t.migrationTask?.description, forKey: .description)
        try c.encodeIfPresent(MigrationTaskWire.errorMessage(t.errorCode), forKey: .errorMessage)
    }
}

/// `ListMigrationTaskResponse`.
struct MigrationTaskListDTO: Encodable {
    var count: Int
    var tasks: [MigrationTaskListItemDTO]

    enum CodingKeys: String, CodingKey {
        case count
        case tasks = "migration_tasks"
    }
}

/// `DeleteMigrationTaskResponse` (and the request body `DeleteMigrateTaskRequest`).
struct MigrationTaskIDsDTO: Encodable {
    var ids: [String]
    enum CodingKeys: String, CodingKey { case ids = "task_id_list" }
}
