import CofferCore
import CofferJobs
import Foundation
import Logging

/// `ddm.metadata.restore` (`loadMetadata`): gives the target instance a backup's schemas and shard layout over
/// data nodes that already hold the data (reference 3.7). Idempotent: schemas it already wrote are skipped.
package struct DDMMetadataRecoveryJob: JobHandler {
    let store: any DDMStore
    let blobs: any BlobStore
    let logger: Logger
    let clock: @Sendable () -> Date

    package var kind: String { JobKind.ddmMetadataRestore.rawValue }
    package var isIdempotent: Bool { true }

    package func run(_ job: Job) async throws {
        guard let plan = DDMRecoveryPlan.decode(job.payload) else { throw DDMRecoveryJob.Failure(detail: "the job's plan is unreadable") }
        guard let backup = try await self.store.backup(projectID: job.projectID, id: plan.backupID), backup.status == .normal else {
            throw DDMRecoveryJob.Failure(detail: "backup \(plan.backupID) is no longer usable")
        }
        let metadata = try await DDMRecoveryJob.readMetadata(backup, blobs: self.blobs)
        try await DDMRecoveryJob.installSchemas(metadata, plan: plan, projectID: job.projectID, store: self.store, now: self.clock())
        self.logger.info("DDM metadata recovery finished", metadata: ["job.id": "\(job.id)", "ddm.target.id": "\(plan.instanceID)"])
    }

    package func jobFailed(_ job: Job, reason: String) async {
        self.logger.error("DDM metadata recovery failed", metadata: ["job.id": "\(job.id)", "error": "\(reason)"])
    }
}
