import CofferCore
import CofferJobs
import Foundation
import Logging
import ServiceLifecycle

/// The automatic DCS backups of `instance_backup_policy` (`backup_type: auto`), and retention.
///
/// Every `checkInterval`, and at once when a policy changes (`policyChanged` is rung by instance create/update):
/// 1. each instance whose policy names today's UTC weekday (`backup_at`, 1 = Monday … 7 = Sunday) and whose UTC
///    hour window (`begin_at`) is now gets one `auto` backup a day. A busy instance is tried again `retryDelay`
///    later, at most `maxAttempts` times; the last busy attempt, or the end of the window with the instance never
///    free, leaves a `failed` record with `dcs.08.0008`. The database slot of (instance, day) makes each step
///    happen once, whichever node (or a restarted one) runs it: see `DCSAutoBackupStore.attemptAutoBackup`.
/// 2. automatic backups older than `save_days` become `expired` (a `dcs.backup.delete` job in expire mode removes
///    the file; the record stays), except the instance's newest `succeed` automatic backup. Manual ones are never
///    touched.
package struct DCSBackupScheduler: Service {
    /// Huawei's rule: an instance busy at its backup time is tried at most this many times a day.
    package static let maxAttempts = 3

    let store: any DCSStore
    let schedule: any DCSAutoBackupStore
    let jobs: any JobStore
    let checkInterval: Duration
    let retryDelay: TimeInterval
    let policyChanged: Doorbell
    let logger: Logger
    let wakeWorker: @Sendable () -> Void
    let clock: @Sendable () -> Date
    /// With several nodes: only the holder of this lease checks policies and retention (the slots would keep a
    /// second node from queuing twice anyway; the lease saves its queries).
    package var leadership: Leadership? = nil

    package init(
        store: any DCSStore, schedule: any DCSAutoBackupStore, jobs: any JobStore, checkInterval: Duration, retryDelay: TimeInterval,
        policyChanged: Doorbell, logger: Logger, wakeWorker: @escaping @Sendable () -> Void, clock: @escaping @Sendable () -> Date
    ) {
        self.store = store
        self.schedule = schedule
        self.jobs = jobs
        self.checkInterval = checkInterval
        self.retryDelay = retryDelay
        self.policyChanged = policyChanged
        self.logger = logger
        self.wakeWorker = wakeWorker
        self.clock = clock
    }

    package func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            // Read before looking, so a policy change made while `runOnce` runs ends the next wait at once.
            let seen = self.policyChanged.rings
            if await self.leadership.allowsTick() {
                do {
                    try await self.runOnce()
                } catch {
                    self.logger.error("Scheduling DCS backups failed", metadata: ["error": "\(error)"])
                }
            }
            await cancelWhenGracefulShutdown { await self.policyChanged.wait(after: seen, timeout: self.checkInterval) }
        }
    }

    /// What one check did, for logs and tests.
    package struct Outcome: Sendable, Equatable {
        package var queued = 0
        package var busy = 0
        package var missed = 0
        package var expired = 0

        package init() {}
    }

    /// One check: due backups, windows that ended without one, retention.
    @discardableResult
    package func runOnce() async throws -> Outcome {
        let now = self.clock()
        var outcome = Outcome()
        let instances = try await self.schedule.policyInstances()
        for instance in instances {
            guard let window = Self.window(of: instance.policy, at: now) else { continue }
            let record = DCSBackupOperations.waitingRecord(
                projectID: instance.projectID, instanceID: instance.instanceID, type: .auto, remark: nil, period: window.period, now: now)
            let result = try await self.schedule.attemptAutoBackup(
                record, job: try DCSBackupJob.job(for: record, now: now), day: window.day, windowEnd: window.end,
                maxAttempts: Self.maxAttempts, retryAt: now.addingTimeInterval(self.retryDelay), now: now)
            switch result {
            case .enqueued:
                outcome.queued += 1
                self.wakeWorker()
                self.logger.info("DCS automatic backup queued", metadata: ["backup.id": "\(record.id)", "instance.id": "\(instance.instanceID)"])
            case .busy(let occupant):
                outcome.busy += 1
                self.logger.notice(
                    "DCS automatic backup postponed: the instance is busy",
                    metadata: ["instance.id": "\(instance.instanceID)", "job.kind": "\(occupant.kind)"])
            case .missed(let failed):
                outcome.missed += 1
                self.logger.warning(
                    "DCS automatic backup missed: the instance stayed busy", metadata: ["backup.id": "\(failed.id)", "instance.id": "\(instance.instanceID)"])
            case .notDue:
                break
            }
        }
        outcome.missed += try await self.closeEndedWindows(now: now, instances: instances)
        for instance in instances {
            outcome.expired += try await self.expire(instance, now: now)
        }
        return outcome
    }

    /// Slots still open after their window: the instance never became free (or the last try would have come after
    /// the window). Each gets its `dcs.08.0008` record.
    private func closeEndedWindows(now: Date, instances: [PolicyInstance]) async throws -> Int {
        var missed = 0
        for slot in try await self.schedule.openSlots(endedBy: now) {
            let policy = instances.first { $0.projectID == slot.projectID && $0.instanceID == slot.instanceID }?.policy
            var record = DCSBackupOperations.waitingRecord(
                projectID: slot.projectID, instanceID: slot.instanceID, type: .auto, remark: nil,
                period: policy?.periodicalBackupPlan?.beginAt, now: now)
            record.status = .failed
            record.errorCode = BackupFailure.scheduleMissed.rawValue
            if try await self.schedule.closeMissed(slot, record: record, now: now) {
                missed += 1
                self.logger.warning(
                    "DCS automatic backup missed: the window ended", metadata: ["backup.id": "\(record.id)", "instance.id": "\(slot.instanceID)"])
            }
        }
        return missed
    }

    /// Retention of one instance: marks its old automatic backups `expired` and queues the removal of their files.
    private func expire(_ instance: PolicyInstance, now: Date) async throws -> Int {
        guard let days = instance.policy.saveDays, days > 0 else { return 0 }
        let cutoff = now.addingTimeInterval(-Double(days) * 86400)
        var expired = 0
        for candidate in try await self.schedule.expirableAutoBackups(
            projectID: instance.projectID, instanceID: instance.instanceID, createdBefore: cutoff)
        {
            if candidate.blobKey != nil {
                // The job first, as for a delete: once stored, the file goes even if this process dies now. A job
                // already on the backup (a user's delete, or another node's expiry) owns it.
                guard case .enqueued = try await self.jobs.enqueueIfIdle(DCSBackupDeleteJob.job(for: candidate, expire: true, now: now)) else {
                    continue
                }
                self.wakeWorker()
            }
            // Marked now so that the list says so and no restore starts from a file about to go; re-read, as a
            // user's delete may have marked it `deleted` meanwhile.
            guard var record = try await self.store.backup(projectID: candidate.projectID, instanceID: candidate.instanceID, id: candidate.id),
                record.status == .succeed || record.status == .failed
            else { continue }
            record.status = .expired
            record.isSupportRestore = false
            record.updatedAt = now
            try await self.store.updateBackup(record)
            expired += 1
            self.logger.info("DCS automatic backup expired", metadata: ["backup.id": "\(record.id)", "instance.id": "\(instance.instanceID)"])
        }
        return expired
    }

    /// Today's backup window of an automatic policy, when `now` is inside it.
    package struct Window: Equatable, Sendable {
        /// UTC days since 1970-01-01: the slot's key.
        package var day: Int64
        package var end: Date
        /// The record's `period`: the window as `begin_at` spells it.
        package var period: String
    }

    /// The window `now` falls in, or nil when the policy is not automatic, names another weekday or another hour.
    package static func window(of policy: BackupPolicy, at now: Date) -> Window? {
        guard policy.backupType == "auto", let plan = policy.periodicalBackupPlan, let hour = BackupPlan.beginHour(plan.beginAt) else {
            return nil
        }
        let seconds = Int64((now.timeIntervalSince1970).rounded(.down))
        let day = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        // 1970-01-01 was a Thursday (ISO weekday 4).
        let weekday = Int(((day + 3) % 7 + 7) % 7) + 1
        guard plan.backupAt.contains(weekday), (seconds - day * 86400) / 3600 == Int64(hour) else { return nil }
        let end = Date(timeIntervalSince1970: TimeInterval(day * 86400 + Int64(hour + 1) * 3600))
        return Window(day: day, end: end, period: plan.beginAt)
    }
}
