import CofferCore
import CofferJobs
import Foundation
import Logging

/// `ddm.backup.delete` (Huawei's task `deleteConsistentBackup`): removes a backup's files and marks it
/// `deleted`. Idempotent: deleting what is already gone is a no-op, so an interrupted delete runs again.
package struct DDMBackupDeleteJob: JobHandler {

    let store: any DDMStore
    let blobs: any BlobStore
    let logger: Logger
    let clock: @Sendable () -> Date
    /// Removes archived binlogs no retained backup needs any more (nil: no archive).
    var binlogRetention: BinlogRetention? = nil

    package var kind: String { JobKind.ddmBackupDelete.rawValue }
    package var isIdempotent: Bool { true }

    package func run(_ job: Job) async throws {
        guard let backupID = DDMJobPayload.decode(job.payload)?.backupID,
            var backup = try await self.store.backup(projectID: job.projectID, id: backupID)
        else { return }
        for file in backup.files { try await self.blobs.delete(key: file.blobKey) }
        if let key = backup.metadataKey { try await self.blobs.delete(key: key) }
        backup.status = .deleted
        backup.updatedAt = self.clock()
        try await self.store.updateBackup(backup)
        try await self.binlogRetention?.prune(projectID: backup.projectID, nodeIDs: backup.files.map(\.nodeID))
        self.logger.info("DDM backup deleted", metadata: ["ddm.backup.id": "\(backup.id)"])
    }

    package func jobFailed(_ job: Job, reason: String) async {}
}
