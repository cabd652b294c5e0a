import CofferCore
import Foundation
import SQLKit

/// `DCSAutoBackupStore` over SQL. "One automatic backup per instance and UTC day" is the primary key of
/// `dcs_auto_backup_slots` (migration 0007): every attempt is a conditional UPDATE of that one row inside the
/// transaction that writes the backup, so two nodes on one PostgreSQL, or a node restarted mid-window, find the
/// slot taken instead of starting a second backup.
package struct SQLDCSAutoBackupStore: DCSAutoBackupStore {
    private let provider: any DatabaseProvider

    package init(provider: any DatabaseProvider) {
        self.provider = provider
    }

    package func policyInstances() async throws -> [PolicyInstance] {
        let rows = try await self.provider.withDatabase { db in
            try await db.raw(
                "SELECT id, project_id, backup_policy FROM dcs_instances WHERE deleted_at IS NULL AND backup_policy IS NOT NULL"
            ).all()
        }
        return try rows.map { row in
            let stored = try JSONDecoder().decode(StoredBackupPolicy.self, from: Data(try row.string("backup_policy").utf8))
            return PolicyInstance(projectID: try row.string("project_id"), instanceID: try row.string("id"), policy: stored.policy)
        }
    }

    package func attemptAutoBackup(
        _ record: DCSBackupRecord, job: Job, day: Int64, windowEnd: Date, maxAttempts: Int, retryAt: Date, now: Date
    ) async throws -> AutoBackupAttempt {
        do {
            return try await self.provider.withTransaction { db in
                try await db.raw(
                    """
                    INSERT INTO dcs_auto_backup_slots (project_id, instance_id, day, attempts, next_try_at, window_end, outcome,
                      backup_id, created_at, updated_at)
                    VALUES (\(bind: record.projectID), \(bind: record.instanceID), \(bind: day), 0, \(bind: millis(now)),
                      \(bind: millis(windowEnd)), NULL, NULL, \(bind: millis(now)), \(bind: millis(now)))
                    ON CONFLICT (project_id, instance_id, day) DO NOTHING
                    """
                ).run()
                // The row lock (PostgreSQL) or the write transaction (SQLite) makes this the one place an attempt is taken.
                guard
                    let attempts = try await db.raw(
                        """
                        UPDATE dcs_auto_backup_slots SET attempts = attempts + 1, next_try_at = \(bind: millis(retryAt)),
                          updated_at = \(bind: millis(now))
                        WHERE project_id = \(bind: record.projectID) AND instance_id = \(bind: record.instanceID) AND day = \(bind: day)
                          AND outcome IS NULL AND attempts < \(bind: maxAttempts) AND next_try_at <= \(bind: millis(now))
                        RETURNING attempts
                        """
                    ).first()?.int("attempts")
                else { return .notDue }
                let active = try await SQLJobStore.activeJobs(projectID: record.projectID, resourceIDs: [record.instanceID], on: db)
                if let occupant = active[record.instanceID] {
                    guard attempts >= maxAttempts else { return .busy(occupant) }
                    var failed = record
                    failed.status = .failed
                    failed.errorCode = BackupFailure.scheduleMissed.rawValue
                    failed.isSupportRestore = false
                    try await SQLDCSStore.insert(failed, on: db)
                    try await Self.close(record.projectID, record.instanceID, day, outcome: "missed", backupID: failed.id, now: now, on: db)
                    return .missed(failed)
                }
                try await SQLDCSStore.insert(record, on: db)
                try await SQLJobStore.insert(job, on: db)
                try await Self.close(record.projectID, record.instanceID, day, outcome: "enqueued", backupID: record.id, now: now, on: db)
                return .enqueued
            }
        } catch {
            // A task that started between the look-up and the insert made the unique index on active jobs refuse the
            // job: everything rolled back, the attempt included, so the next check simply tries again.
            let active = try await self.provider.withDatabase { db in
                try await SQLJobStore.activeJobs(projectID: record.projectID, resourceIDs: [record.instanceID], on: db)
            }
            if active[record.instanceID] != nil { return .notDue }
            throw error
        }
    }

    package func openSlots(endedBy now: Date) async throws -> [AutoBackupSlot] {
        let rows = try await self.provider.withDatabase { db in
            try await db.raw(
                """
                SELECT project_id, instance_id, day, attempts, window_end FROM dcs_auto_backup_slots
                WHERE outcome IS NULL AND window_end <= \(bind: millis(now))
                """
            ).all()
        }
        return try rows.map { row in
            AutoBackupSlot(
                projectID: try row.string("project_id"), instanceID: try row.string("instance_id"),
                day: try row.decode(column: "day", as: Int64.self), attempts: try row.int("attempts"), windowEnd: try row.date("window_end"))
        }
    }

    package func closeMissed(_ slot: AutoBackupSlot, record: DCSBackupRecord, now: Date) async throws -> Bool {
        try await self.provider.withTransaction { db in
            let live = try await db.raw(
                "SELECT id FROM dcs_instances WHERE project_id = \(bind: slot.projectID) AND id = \(bind: slot.instanceID) AND deleted_at IS NULL"
            ).first() != nil
            let closed = try await db.raw(
                """
                UPDATE dcs_auto_backup_slots SET outcome = \(bind: live ? "missed" : "dropped"), backup_id = \(bind: live ? record.id : nil),
                  updated_at = \(bind: millis(now))
                WHERE project_id = \(bind: slot.projectID) AND instance_id = \(bind: slot.instanceID) AND day = \(bind: slot.day)
                  AND outcome IS NULL
                RETURNING day
                """
            ).first() != nil
            guard closed, live else { return false }
            try await SQLDCSStore.insert(record, on: db)
            return true
        }
    }

    package func expirableAutoBackups(projectID: String, instanceID: String, createdBefore cutoff: Date) async throws -> [DCSBackupRecord] {
        try await self.provider.withDatabase { db in
            try await db.raw(
                """
                SELECT * FROM dcs_backups
                WHERE project_id = \(bind: projectID) AND instance_id = \(bind: instanceID) AND backup_type = 'auto'
                  AND status IN ('succeed', 'failed') AND created_at < \(bind: millis(cutoff))
                  AND id <> COALESCE((SELECT newest.id FROM dcs_backups newest
                    WHERE newest.project_id = \(bind: projectID) AND newest.instance_id = \(bind: instanceID)
                      AND newest.backup_type = 'auto' AND newest.status = 'succeed'
                    ORDER BY newest.created_at DESC, newest.id DESC LIMIT 1), '')
                ORDER BY created_at, id
                """
            ).all().map(BackupRow.record(from:))
        }
    }

    private static func close(
        _ projectID: String, _ instanceID: String, _ day: Int64, outcome: String, backupID: String, now: Date, on db: any SQLDatabase
    ) async throws {
        try await db.raw(
            """
            UPDATE dcs_auto_backup_slots SET outcome = \(bind: outcome), backup_id = \(bind: backupID), updated_at = \(bind: millis(now))
            WHERE project_id = \(bind: projectID) AND instance_id = \(bind: instanceID) AND day = \(bind: day)
            """
        ).run()
    }
}
