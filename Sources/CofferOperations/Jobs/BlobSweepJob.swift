import CofferCore
import CofferJobs
import Foundation
import Logging

/// `blob.sweep`: removes temporary files that crashed or killed writers left in the blob store's incoming
/// folder (a live writer's file is never touched: the store knows which ones are held).
///
/// Enqueued at every start and then periodically (`BlobSweepScheduler`). Idempotent (removing what is
/// already gone is a no-op), so an interrupted sweep is simply run again.
package struct BlobSweepJob: JobHandler {
    /// Files younger than this are left alone: a writer locks its file just after creating it.
    static let abandonedAfter: TimeInterval = 10

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
