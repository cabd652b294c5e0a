import CofferCore
import CofferJobs
import Foundation
import Logging

/// `dcs.backup.delete`: marks a backup `deleted` (if the request that queued the job died before it could)
/// and removes its files (``DCSBackupFiles``). Idempotent: a second run finds the record marked and the file gone, so an
/// interrupted delete simply runs again.
package struct DCSBackupDeleteJob: JobHandler {
    /// The job's input: which backup.
    struct Payload: Codable {
        var instanceID: String
        var backupID: String
        /// Retention rather than a user's delete: the record ends `expired`, not `deleted` (absent in older jobs).
        var expire: Bool?
        enum CodingKeys: String, CodingKey {
            case instanceID = "instance_id"
            case backupID = "backup_id"
            case expire
        }
    }

    let store: any DCSStore
    let blobs: any BlobStore
    let logger: Logger
    let clock: @Sendable () -> Date

    package init(store: any DCSStore, blobs: any BlobStore, logger: Logger, clock: @escaping @Sendable () -> Date) {
        self.store = store
        self.blobs = blobs
        self.logger = logger
        self.clock = clock
    }

    package var kind: String { JobKind.dcsBackupDelete.rawValue }
    package var isIdempotent: Bool { true }

    /// The job that deletes `record` (or, with `expire`, expires it); it occupies the backup, not the instance (a
    /// backup may run meanwhile).
    static func job(for record: DCSBackupRecord, expire: Bool = false, now: Date) -> Job {
        let body = Payload(instanceID: record.instanceID, backupID: record.id, expire: expire ? true : nil)
        let payload = String(decoding: (try? JSONEncoder().encode(body)) ?? Data(), as: UTF8.self)
        return Job.new(kind: JobKind.dcsBackupDelete.rawValue, projectID: record.projectID, resourceID: record.id, payload: payload, maxAttempts: 5, now: now)
    }

    package func run(_ job: Job) async throws {
        let payload = try JSONDecoder().decode(Payload.self, from: Data(job.payload.utf8))
        guard var record = try await self.store.backup(projectID: job.projectID, instanceID: payload.instanceID, id: payload.backupID) else { return }
        if payload.expire == true {
            // A backup the user deleted meanwhile stays `deleted`; only a kept backup becomes `expired`.
            if record.status == .succeed || record.status == .failed {
                record.status = .expired
                record.isSupportRestore = false
                record.updatedAt = self.clock()
                try await self.store.updateBackup(record)
            }
        } else if record.status != .deleted {
            record.status = .deleted
            record.isSupportRestore = false
            record.updatedAt = self.clock()
            try await self.store.updateBackup(record)
        }
        // Every file the backup may own (an AOF backup's RDB sidecar too), whether or not it was written.
        for key in DCSBackupFiles.allKeys(record) { try await self.blobs.delete(key: key) }
        self.logger.info("DCS backup file removed", metadata: ["backup.id": "\(record.id)", "backup.status": "\(record.status.rawValue)"])
    }

    package func jobFailed(_ job: Job, reason: String) async {
        self.logger.error("Removing a deleted DCS backup's file failed", metadata: ["job.id": "\(job.id)", "error": "\(reason)"])
    }
}
