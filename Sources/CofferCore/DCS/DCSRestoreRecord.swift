import Foundation

/// One restore of a DCS backup into an instance, as listed by `GET /v2/{project_id}/instances/{instance_id}/restores`
/// (reference 2.7), or, with `migrationTask`, a `backupfile_import` migration task into another instance.
package struct DCSRestoreRecord: Sendable, Equatable {
    /// The restore states of reference 2.7. `succeed` and `failed` are final.
    package enum Status: String, Sendable, Codable, CaseIterable {
        case waiting, restoring, succeed, failed

        package var isFinal: Bool { self == .succeed || self == .failed }
    }

    /// Hundredths of a percent, exactly as backups count them: one progress type from the job to the wire.
    package typealias Progress = DCSBackupRecord.Progress

    /// What a migration task adds to the restore it is: the user's name and description for it.
    package struct MigrationTask: Sendable, Equatable {
        package var name: String
        package var description: String?

        package init(name: String, description: String?) {
            self.name = name
            self.description = description
        }
    }

    package var id: String
    package var projectID: String
    /// The instance whose Redis is overwritten.
    package var instanceID: String
    package var backupID: String
    /// The instance the backup was taken of (the target itself, except for a migration task).
    package var backupInstanceID: String
    /// Copied from the backup at creation (a backup's name and remark never change): the list needs no join.
    package var backupName: String
    package var backupRemark: String?
    /// `restore_<yyyyMMddHHmmss><milliseconds>`, from the creation time in UTC.
    package var name: String
    package var remark: String?
    package var status: Status
    package var progress: Progress
    /// Why it failed; nil unless `failed`.
    package var errorCode: BackupFailure?
    /// The restore engine's last checkpoint, stored verbatim (opaque here): what a recovery after a crash needs.
    package var checkpoint: String?
    /// Set when the restore was asked for as a migration task.
    package var migrationTask: MigrationTask?
    package var createdAt: Date
    package var updatedAt: Date

    package init(
        id: String, projectID: String, instanceID: String, backupID: String, backupInstanceID: String, backupName: String,
        backupRemark: String?, name: String, remark: String?, status: Status, progress: Progress, errorCode: BackupFailure?,
        checkpoint: String?, migrationTask: MigrationTask?, createdAt: Date, updatedAt: Date
    ) {
        self.id = id
        self.projectID = projectID
        self.instanceID = instanceID
        self.backupID = backupID
        self.backupInstanceID = backupInstanceID
        self.backupName = backupName
        self.backupRemark = backupRemark
        self.name = name
        self.remark = remark
        self.status = status
        self.progress = progress
        self.errorCode = errorCode
        self.checkpoint = checkpoint
        self.migrationTask = migrationTask
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// A `waiting` restore of `backup` into `target`, created at `now`.
    package static func new(
        backup: DCSBackupRecord, target: DCSInstance, remark: String?, migrationTask: MigrationTask? = nil, now: Date
    ) -> DCSRestoreRecord {
        DCSRestoreRecord(
            id: Identifiers.uuid(), projectID: target.projectID, instanceID: target.id, backupID: backup.id,
            backupInstanceID: backup.instanceID, backupName: backup.name, backupRemark: backup.remark,
            // Like backup names: the second, then its milliseconds, so two restores of one second differ.
            name: "restore_" + WireTime.compact(now) + String(format: "%03d", Int(WireTime.epochMilliseconds(now) % 1000)),
            remark: remark, status: .waiting, progress: .zero, errorCode: nil, checkpoint: nil, migrationTask: migrationTask,
            createdAt: now, updatedAt: now)
    }
}

/// A page of an instance's restore list: the same window and paging as the backup list.
package typealias DCSRestoreQuery = DCSBackupQuery
