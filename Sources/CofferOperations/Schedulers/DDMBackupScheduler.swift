import CofferCore
import CofferJobs
import Foundation
import Logging
import ServiceLifecycle

/// The automatic daily backup of every DDM instance (`backup_type: auto_metadata`, Huawei's name; Coffer's
/// automatic backups include the data of every node). Runs beside the job worker: every `checkInterval` it
/// queues a backup for each instance whose last automatic backup (or creation) is older than `period`.
/// A busy instance is skipped and picked up at the next check.
package struct DDMBackupScheduler: Service {
    let store: any DDMStore
    let backups: DDMBackupOperations
    let period: TimeInterval
    let checkInterval: Duration
    let logger: Logger
    let clock: @Sendable () -> Date
    /// With several nodes: only the holder of this lease queues the daily backups (a node that read "due" just
    /// before another node's backup ended could otherwise queue a second one).
    package var leadership: Leadership? = nil

    package init(
        store: any DDMStore, backups: DDMBackupOperations, period: TimeInterval, checkInterval: Duration, logger: Logger,
        clock: @escaping @Sendable () -> Date
    ) {
        self.store = store
        self.backups = backups
        self.period = period
        self.checkInterval = checkInterval
        self.logger = logger
        self.clock = clock
    }

    package func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            if await self.leadership.allowsTick() {
                do {
                    try await self.runOnce()
                } catch {
                    self.logger.error("Scheduling DDM backups failed", metadata: ["error": "\(error)"])
                }
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.checkInterval) }
        }
    }

    /// Queues the backups that are due. Returns how many it queued.
    @discardableResult
    package func runOnce() async throws -> Int {
        let now = self.clock()
        var queued = 0
        for instance in try await self.store.allInstances() {
            let last = try await self.store.latestBackup(projectID: instance.projectID, instanceID: instance.id, backupType: "auto_metadata")
            guard now.timeIntervalSince(last?.createdAt ?? instance.createdAt) >= self.period else { continue }
            do {
                _ = try await self.backups.enqueue(instance: instance, name: nil, description: "auto backup", backupType: "auto_metadata")
                queued += 1
            } catch let error as CofferError where error == DDMError.busy {
                continue
            }
        }
        return queued
    }
}
