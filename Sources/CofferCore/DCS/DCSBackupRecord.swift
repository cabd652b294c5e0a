import Foundation

/// One DCS backup, as listed by `GET /v2/{project_id}/instances/{instance_id}/backups`.
package struct DCSBackupRecord: Sendable, Equatable {
    /// The backup states of reference 2.2.
    package enum Status: String, Sendable, Codable, CaseIterable {
        case waiting, backuping, succeed, failed, expired, deleted
    }

    /// Who started the backup: a user (`manual`) or the instance's backup policy (`auto`).
    package enum BackupType: String, Sendable, Codable, CaseIterable {
        case manual, auto
    }

    /// The snapshot format.
    package enum Format: String, Sendable, Codable, CaseIterable {
        case rdb, aof
    }

    /// Completion in hundredths of a percent (0…10000): exact, so `42.10` stays `42.10` from the job
    /// through storage to the wire, where the DTO alone turns it into the string the API shows.
    package struct Progress: Sendable, Equatable, Comparable {
        package var hundredths: Int

        package static let zero = Progress(hundredths: 0)
        package static let complete = Progress(hundredths: 10_000)

        /// Clamped to 0…10000.
        package init(hundredths: Int) {
            self.hundredths = min(max(hundredths, 0), 10_000)
        }

        /// From a fraction 0…1, rounded to the nearest hundredth of a percent; not-a-number counts as zero.
        package init(fraction: Double) {
            guard fraction.isFinite else {
                self.init(hundredths: fraction == .infinity ? 10_000 : 0)
                return
            }
            self.init(hundredths: Int((min(max(fraction, 0), 1) * 10_000).rounded()))
        }

        package static func < (lhs: Progress, rhs: Progress) -> Bool { lhs.hundredths < rhs.hundredths }
    }

    package var id: String
    package var projectID: String
    package var instanceID: String
    package var name: String
    package var backupType: BackupType
    package var backupFormat: Format
    package var status: Status
    package var progress: Progress
    package var size: Int64
    package var remark: String?
    /// `dcs.08.000x` when the backup failed.
    package var errorCode: String?
    /// "Backup execution time" for automatic backups; nil for manual ones.
    package var period: String?
    package var isSupportRestore: Bool
    package var createdAt: Date
    package var updatedAt: Date
    package var executionAt: Date?
    /// Key of the backup file in the blob store, once written.
    package var blobKey: String?
    package var sha256: String?
    /// One file per shard for a cluster or master/standby instance (nil for a single server's backup, whose one
    /// file is `blobKey`). A cluster backup has no `blobKey`: its files are these.
    package var shards: [DCSBackupShard]?

    /// Whether a restore can start from this backup: it succeeded and its files are known (one, or one per shard).
    package var isRestorable: Bool { self.status == .succeed && (self.blobKey != nil || !(self.shards ?? []).isEmpty) }

    package init(
        id: String, projectID: String, instanceID: String, name: String, backupType: BackupType, backupFormat: Format,
        status: Status, progress: Progress, size: Int64, remark: String?, errorCode: String?, period: String?,
        isSupportRestore: Bool, createdAt: Date, updatedAt: Date, executionAt: Date?, blobKey: String?, sha256: String?,
        shards: [DCSBackupShard]? = nil
    ) {
        self.id = id
        self.projectID = projectID
        self.instanceID = instanceID
        self.name = name
        self.backupType = backupType
        self.backupFormat = backupFormat
        self.status = status
        self.progress = progress
        self.size = size
        self.remark = remark
        self.errorCode = errorCode
        self.period = period
        self.isSupportRestore = isSupportRestore
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.executionAt = executionAt
        self.blobKey = blobKey
        self.sha256 = sha256
        self.shards = shards
    }
}

/// A page of the backup list: filters and window.
package struct DCSBackupQuery: Sendable, Equatable {
    package var projectID: String
    package var instanceID: String
    /// Inclusive lower bound on `created_at`.
    package var begin: Date?
    /// Inclusive upper bound on `created_at`.
    package var end: Date?
    package var offset: Int
    package var limit: Int

    package init(projectID: String, instanceID: String, begin: Date?, end: Date?, offset: Int, limit: Int) {
        self.projectID = projectID
        self.instanceID = instanceID
        self.begin = begin
        self.end = end
        self.offset = offset
        self.limit = limit
    }
}

/// One page and the total number of matching records.
package struct Page<Item: Sendable>: Sendable {
    package var items: [Item]
    package var total: Int

    package init(items: [Item], total: Int) {
        self.items = items
        self.total = total
    }
}
