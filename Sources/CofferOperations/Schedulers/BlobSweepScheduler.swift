import CofferCore
import CofferJobs
import Foundation
import Logging
import ServiceLifecycle

/// Queues a `blob.sweep` every `interval`, so the temporary files of writers killed mid-backup go while the
/// server runs, not only at its next start. A sweep already queued (here or on another node) counts.
package struct BlobSweepScheduler: Service {
    let jobs: any JobStore
    let interval: Duration
    let logger: Logger
    let wakeWorker: @Sendable () -> Void
    let clock: @Sendable () -> Date
    /// With several nodes: only the holder of this lease queues sweeps.
    package var leadership: Leadership? = nil

    package init(
        jobs: any JobStore, interval: Duration, logger: Logger, wakeWorker: @escaping @Sendable () -> Void,
        clock: @escaping @Sendable () -> Date
    ) {
        self.jobs = jobs
        self.interval = interval
        self.logger = logger
        self.wakeWorker = wakeWorker
        self.clock = clock
    }

    package func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
            guard !Task.isShuttingDownGracefully && !Task.isCancelled else { break }
            guard await self.leadership.allowsTick() else { continue }
            do {
                try await self.runOnce()
            } catch {
                self.logger.error("Queuing a blob sweep failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Queues a sweep unless one is queued or running. Returns whether it queued one.
    @discardableResult
    package func runOnce() async throws -> Bool {
        guard case .enqueued = try await self.jobs.enqueueIfIdle(BlobSweepJob.job(now: self.clock())) else { return false }
        self.wakeWorker()
        return true
    }
}
