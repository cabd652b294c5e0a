import CofferCore
import CofferJobs
import Foundation
import Logging

/// `blob.sweep`: removes temporary files that crashed writers left in the blob store's incoming folder.
///
/// Enqueued at every start. Idempotent (removing what is already gone is a no-op), so an interrupted
/// sweep is simply run again.
package struct BlobSweepJob: JobHandler {
    /// A write older than this is abandoned: no backup stream runs silent that long (the job lease would expire first).
    static let abandonedAfter: TimeInterval = 3600

    let blobs: any BlobStore
    let logger: Logger
    let clock: @Sendable () -> Date

    package init(blobs: any BlobStore, logger: Logger, clock: @escaping @Sendable () -> Date) {
        self.blobs = blobs
        self.logger = logger
        self.clock = clock
    }

    package var kind: String { JobKind.blobSweep.rawValue }
    package var isIdempotent: Bool { true }

    package func run(_ job: Job) async throws {
        let removed = try await self.blobs.sweepAbandonedWrites(olderThan: Self.abandonedAfter, now: self.clock())
        if removed > 0 { self.logger.notice("Removed abandoned blob writes", metadata: ["blob.removed": "\(removed)"]) }
    }

    package func jobFailed(_ job: Job, reason: String) async {}

    /// The job to enqueue at start.
    package static func job(now: Date) -> Job {
        Job.new(kind: JobKind.blobSweep.rawValue, projectID: "system", resourceID: "blobs", maxAttempts: 3, now: now)
    }
}
