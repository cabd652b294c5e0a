import Foundation

/// An instance that has a backup policy, as the automatic-backup scheduler reads it (no address, no secret:
/// the backup job reads the instance itself).
package struct PolicyInstance: Sendable, Equatable {
    package var projectID: String
    package var instanceID: String
    package var policy: BackupPolicy

    package init(projectID: String, instanceID: String, policy: BackupPolicy) {
        self.projectID = projectID
        self.instanceID = instanceID
        self.policy = policy
    }
}

/// One instance's automatic backup for one UTC day ("slot"): the database row that makes it happen once,
/// whichever node or restart asks. A slot is open until it ends `enqueued` (its backup is queued) or
/// `missed` (a failed record says why).
package struct AutoBackupSlot: Sendable, Equatable {
    package var projectID: String
    package var instanceID: String
    /// UTC days since 1970-01-01.
    package var day: Int64
    package var attempts: Int
    package var windowEnd: Date

    package init(projectID: String, instanceID: String, day: Int64, attempts: Int, windowEnd: Date) {
        self.projectID = projectID
        self.instanceID = instanceID
        self.day = day
        self.attempts = attempts
        self.windowEnd = windowEnd
    }
}

/// How one attempt at a slot ended.
package enum AutoBackupAttempt: Sendable, Equatable {
    /// The record and its `dcs.backup` job are stored; the slot is closed.
    case enqueued
    /// Another task occupied the instance; the attempt is counted and the slot stays open until its next try.
    case busy(Job)
    /// The last allowed attempt found the instance busy: the failed (`dcs.08.0008`) record is stored, the slot closed.
    case missed(DCSBackupRecord)
    /// Nothing to do now: the slot is closed, out of attempts, or waiting for its next try (or another node
    /// took this attempt).
    case notDue
}

/// Persistence of the automatic-backup schedule and of retention. Kept apart from `DCSStore` because only
/// the scheduler uses it.
package protocol DCSAutoBackupStore: Sendable {
    /// Every live instance (all projects) that has a backup policy.
    func policyInstances() async throws -> [PolicyInstance]

    /// Takes one attempt at the slot of (`record`'s instance, `day`), atomically: creates the slot when new, then
    /// counts the attempt only if the slot is open, has attempts left and its next try is due (so two nodes, or a
    /// restarted one, never take the same attempt). If the instance is idle, stores `record` and `job`; if it is busy
    /// and this was attempt `maxAttempts`, stores `record` as `failed` with `dcs.08.0008` instead.
    /// - Parameters:
    ///   - windowEnd: when the slot's window closes (open slots past it are closed by `closeMissed`).
    ///   - retryAt: when the next attempt may come, should this one find the instance busy.
    func attemptAutoBackup(
        _ record: DCSBackupRecord, job: Job, day: Int64, windowEnd: Date, maxAttempts: Int, retryAt: Date, now: Date
    ) async throws -> AutoBackupAttempt

    /// Open slots whose window has ended (their instance never became free, or the last try came too late).
    func openSlots(endedBy now: Date) async throws -> [AutoBackupSlot]

    /// Closes an open slot with `record` (a failed record); nothing when the slot was closed meanwhile or its
    /// instance is gone (then the slot closes without a record).
    /// - Returns: whether `record` was stored.
    func closeMissed(_ slot: AutoBackupSlot, record: DCSBackupRecord, now: Date) async throws -> Bool

    /// The instance's automatic backups created before `cutoff` that are `succeed` or `failed`, except its newest
    /// `succeed` automatic backup (of any age), which retention always keeps.
    func expirableAutoBackups(projectID: String, instanceID: String, createdBefore cutoff: Date) async throws -> [DCSBackupRecord]
}
