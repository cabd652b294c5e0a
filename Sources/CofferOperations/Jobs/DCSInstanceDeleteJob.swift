import CofferCore
import CofferJobs
import Foundation
import Logging

/// `dcs.instance.delete`: marks the instance and its backups deleted (if the request that queued the job died
/// before it could) and removes every backup file. Idempotent, so an interrupted delete runs again.
package struct DCSInstanceDeleteJob: JobHandler {
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

    package var kind: String { JobKind.dcsInstanceDelete.rawValue }
    package var isIdempotent: Bool { true }

    /// The job that deletes `instance`; it occupies the instance, so no backup starts on it meanwhile.
    static func job(for instance: DCSInstance, now: Date) -> Job {
        Job.new(kind: JobKind.dcsInstanceDelete.rawValue, projectID: instance.projectID, resourceID: instance.id, maxAttempts: 5, now: now)
    }

    package func run(_ job: Job) async throws {
        let keys = try await self.store.deleteInstance(projectID: job.projectID, id: job.resourceID, at: self.clock())
        // An AOF backup's key brings its RDB sidecar along.
        for key in keys.flatMap(DCSBackupFiles.withSidecar) { try await self.blobs.delete(key: key) }
        self.logger.info("DCS instance's backup files removed", metadata: ["instance.id": "\(job.resourceID)", "backups.removed": "\(keys.count)"])
    }

    package func jobFailed(_ job: Job, reason: String) async {
        self.logger.error("Removing a deleted DCS instance's backup files failed", metadata: ["instance.id": "\(job.resourceID)", "error": "\(reason)"])
    }
}
