import CofferCore
import Foundation
import SQLKit

/// Restore records and migration tasks over SQL (table `dcs_restores`, migration 0007). Every query names the project.
extension SQLDCSStore {
    package func backup(projectID: String, id: String) async throws -> DCSBackupRecord? {
        // The backup row type lives with the backup queries; read through them with the instance found here.
        let instanceID = try await self.provider.withDatabase { db in
            try await db.select().column("instance_id").from("dcs_backups").where("project_id", .equal, projectID)
                .where("id", .equal, id).first()?.string("instance_id")
        }
        guard let instanceID else { return nil }
        return try await self.backup(projectID: projectID, instanceID: instanceID, id: id)
    }

    package func insertRestore(_ record: DCSRestoreRecord, job: Job) async throws -> EnqueueResult {
        let row = RestoreRow(record)
        return try await SQLJobStore.insertIfIdle(job, provider: self.provider) { db in
            try await db.insert(into: "dcs_restores").model(row, nilEncodingStrategy: .asNil).run()
        }
    }

    package func restore(projectID: String, id: String) async throws -> DCSRestoreRecord? {
        try await self.provider.withDatabase { db in
            try await db.select().column("*").from("dcs_restores").where("project_id", .equal, projectID).where("id", .equal, id)
                .first(decoding: RestoreRow.self)?.record
        }
    }

    package func updateRestore(_ record: DCSRestoreRecord) async throws {
        let row = RestoreRow(record)
        try await self.provider.withDatabase { db in
            try await db.update("dcs_restores").set("status", to: row.status).set("progress", to: row.progress)
                .set("error_code", to: row.errorCode).set("checkpoint", to: row.checkpoint).set("updated_at", to: row.updatedAt)
                .where("project_id", .equal, row.projectID).where("id", .equal, row.id)
                .run()
        }
    }

    package func updateRestoreProgress(projectID: String, id: String, progress: DCSRestoreRecord.Progress, at date: Date) async throws {
        try await self.provider.withDatabase { db in
            try await db.raw(
                """
                UPDATE dcs_restores SET progress = \(bind: progress.hundredths), updated_at = \(bind: millis(date))
                WHERE project_id = \(bind: projectID) AND id = \(bind: id) AND status = 'restoring'
                """
            ).run()
        }
    }

    package func saveRestoreCheckpoint(projectID: String, id: String, checkpoint: String, at date: Date) async throws {
        try await self.provider.withDatabase { db in
            try await db.raw(
                """
                UPDATE dcs_restores SET checkpoint = \(bind: checkpoint), updated_at = \(bind: millis(date))
                WHERE project_id = \(bind: projectID) AND id = \(bind: id)
                """
            ).run()
        }
    }

    package func restores(_ query: DCSRestoreQuery) async throws -> Page<DCSRestoreRecord> {
        try await self.provider.withDatabase { db in
            func filtered(_ select: SQLSelectBuilder) -> SQLSelectBuilder {
                select.from("dcs_restores").where("project_id", .equal, query.projectID).where("instance_id", .equal, query.instanceID)
                    .where("task_name", .is, SQLLiteral.null)
                if let begin = query.begin { select.where("created_at", .greaterThanOrEqual, millis(begin)) }
                if let end = query.end { select.where("created_at", .lessThanOrEqual, millis(end)) }
                return select
            }
            // Restores are rare next to backups: counting them in the index is cheap.
            let total = try await filtered(db.select().column(SQLFunction("count", args: SQLLiteral.all), as: "n")).first()?
                .decode(column: "n", as: Int64.self) ?? 0
            let rows = try await filtered(db.select().column("*")).orderBy("created_at", .descending).orderBy("id", .descending)
                .limit(query.limit).offset(query.offset).all(decoding: RestoreRow.self)
            return Page(items: rows.map(\.record), total: Int(total))
        }
    }

    package func migrationTasks(projectID: String, name: String?, offset: Int, limit: Int) async throws -> Page<DCSRestoreRecord> {
        try await self.provider.withDatabase { db in
            func filtered(_ select: SQLSelectBuilder) -> SQLSelectBuilder {
                select.from("dcs_restores").where("project_id", .equal, projectID).where("task_name", .isNot, SQLLiteral.null)
                if let name {
                    select.where(
                        SQLFunction("lower", args: SQLColumn("task_name")), .like, SQLBind("%" + Self.escapeLike(name.lowercased()) + "%"))
                }
                return select
            }
            let total = try await filtered(db.select().column(SQLFunction("count", args: SQLLiteral.all), as: "n")).first()?
                .decode(column: "n", as: Int64.self) ?? 0
            let rows = try await filtered(db.select().column("*")).orderBy("created_at", .descending).orderBy("id", .descending)
                .limit(limit).offset(offset).all(decoding: RestoreRow.self)
            return Page(items: rows.map(\.record), total: Int(total))
        }
    }

    package func deleteMigrationTasks(projectID: String, ids: [String]) async throws -> [String] {
        guard !ids.isEmpty else { return [] }
        return try await self.provider.withTransaction { db in
            // Only finished tasks: the condition sits in the DELETE itself, so a task that starts meanwhile stays.
            let finished = [DCSRestoreRecord.Status.succeed.rawValue, DCSRestoreRecord.Status.failed.rawValue]
            let found = try await db.select().column("id").from("dcs_restores").where("project_id", .equal, projectID)
                .where("id", .in, ids).where("task_name", .isNot, SQLLiteral.null).where("status", .in, finished)
                .all().map { try $0.string("id") }
            guard !found.isEmpty else { return [] }
            try await db.delete(from: "dcs_restores").where("project_id", .equal, projectID).where("id", .in, found)
                .where("status", .in, finished).run()
            return found
        }
    }
}

/// A `dcs_restores` row, column for column: the one place the storage form of a restore record is spelled out.
private struct RestoreRow: Codable, Sendable {
    var id: String
    var projectID: String
    var instanceID: String
    var backupID: String
    var backupInstanceID: String
    var backupName: String
    var backupRemark: String?
    var name: String
    var remark: String?
    var status: DCSRestoreRecord.Status
    /// Hundredths of a percent, 0…10000.
    var progress: Int
    var errorCode: String?
    var checkpoint: String?
    var taskName: String?
    var taskDescription: String?
    var createdAt: Int64
    var updatedAt: Int64

    enum CodingKeys: String, CodingKey {
        case id, projectID = "project_id", instanceID = "instance_id", backupID = "backup_id"
        case backupInstanceID = "backup_instance_id", backupName = "backup_name", backupRemark = "backup_remark", name, remark
        case status, progress, errorCode = "error_code", checkpoint, taskName = "task_name", taskDescription = "task_description"
        case createdAt = "created_at", updatedAt = "updated_at"
    }

    init(_ record: DCSRestoreRecord) {
        self.id = record.id
        self.projectID = record.projectID
        self.instanceID = record.instanceID
        self.backupID = record.backupID
        self.backupInstanceID = record.backupInstanceID
        self.backupName = record.backupName
        self.backupRemark = record.backupRemark
        self.name = record.name
        self.remark = record.remark
        self.status = record.status
        self.progress = record.progress.hundredths
        self.errorCode = record.errorCode?.rawValue
        self.checkpoint = record.checkpoint
        self.taskName = record.migrationTask?.name
        self.taskDescription = record.migrationTask?.description
        self.createdAt = millis(record.createdAt)
        self.updatedAt = millis(record.updatedAt)
    }

    var record: DCSRestoreRecord {
        DCSRestoreRecord(
            id: self.id, projectID: self.projectID, instanceID: self.instanceID, backupID: self.backupID,
            backupInstanceID: self.backupInstanceID, backupName: self.backupName, backupRemark: self.backupRemark, name: self.name,
            remark: self.remark, status: self.status, progress: DCSRestoreRecord.Progress(hundredths: self.progress),
            // A code this version does not know reads as the generic "could not synchronise" rather than failing the list.
            errorCode: self.errorCode.map { BackupFailure(rawValue: $0) ?? .synchronization }, checkpoint: self.checkpoint,
            migrationTask: self.taskName.map { DCSRestoreRecord.MigrationTask(name: $0, description: self.taskDescription) },
            createdAt: WireTime.date(epochMilliseconds: self.createdAt), updatedAt: WireTime.date(epochMilliseconds: self.updatedAt))
    }
}
