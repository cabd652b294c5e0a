import CofferCore
import Foundation
import SQLKit

/// `DCSStore` over SQL. Every query names the project: one project never reads another's rows.
package struct SQLDCSStore: DCSStore {
    private let provider: any DatabaseProvider
    private let secrets: SecretBox

    package init(provider: any DatabaseProvider, secrets: SecretBox) {
        self.provider = provider
        self.secrets = secrets
    }

    // MARK: - Instances

    package func insertInstance(_ instance: DCSInstance) async throws {
        let sealed = try instance.password.map(self.secrets.seal)
        let policy = try instance.backupPolicy.map(Self.json)
        let extra = try Self.json(instance.extra)
        try await self.provider.withDatabase { db in
            try await db.raw(
                """
                INSERT INTO dcs_instances (id, project_id, name, engine, engine_version, host, port, access_user, password_sealed,
                  description, status, capacity_gb, spec_code, backup_policy, extra, created_at, updated_at, deleted_at)
                VALUES (\(bind: instance.id), \(bind: instance.projectID), \(bind: instance.name), \(bind: instance.engine),
                  \(bind: instance.requestedEngineVersion), \(bind: instance.host), \(bind: Int64(instance.port)),
                  \(bind: instance.accessUser), \(bind: sealed), \(bind: instance.description), \(bind: instance.status),
                  \(bind: instance.capacityGB), \(bind: instance.specCode), \(bind: policy), \(bind: extra),
                  \(bind: millis(instance.createdAt)), \(bind: millis(instance.updatedAt)), NULL)
                """
            ).run()
        }
    }

    package func instance(projectID: String, id: String) async throws -> DCSInstance? {
        let row = try await self.provider.withDatabase { db in
            try await db.raw(
                "SELECT * FROM dcs_instances WHERE project_id = \(bind: projectID) AND id = \(bind: id) AND deleted_at IS NULL"
            ).first()
        }
        return try row.map(self.instance(row:))
    }

    package func instanceNameExists(projectID: String, name: String) async throws -> Bool {
        try await self.provider.withDatabase { db in
            try await db.raw(
                "SELECT id FROM dcs_instances WHERE project_id = \(bind: projectID) AND name = \(bind: name) AND deleted_at IS NULL"
            ).first() != nil
        }
    }

    package func instances(projectID: String, filter: DCSInstanceFilter) async throws -> Page<DCSInstance> {
        let (rows, total) = try await self.provider.withDatabase { db -> ([any SQLRow], Int) in
            func filtered(_ query: SQLSelectBuilder) -> SQLSelectBuilder {
                query.from("dcs_instances").where("project_id", .equal, projectID).where("deleted_at", .is, SQLLiteral.null)
                if let id = filter.instanceID { query.where("id", .equal, id) }
                if let status = filter.status { query.where("status", .equal, status) }
                if let name = filter.name {
                    if filter.nameEqual {
                        query.where("name", .equal, name)
                    } else {
                        query.where(SQLFunction("lower", args: SQLColumn("name")), .like, SQLBind("%" + Self.escapeLike(name.lowercased()) + "%"))
                    }
                }
                return query
            }
            let total = try await filtered(db.select().column(SQLFunction("count", args: SQLLiteral.all), as: "n")).first()?
                .decode(column: "n", as: Int64.self) ?? 0
            let rows = try await filtered(db.select().column("*")).orderBy("created_at", .descending).orderBy("id")
                .limit(filter.limit).offset(filter.offset).all()
            return (rows, Int(total))
        }
        return Page(items: try rows.map(self.instance(row:)), total: total)
    }

    package func updateInstance(_ instance: DCSInstance) async throws {
        let sealed = try instance.password.map(self.secrets.seal)
        let policy = try instance.backupPolicy.map(Self.json)
        let extra = try Self.json(instance.extra)
        try await self.provider.withDatabase { db in
            try await db.raw(
                """
                UPDATE dcs_instances SET name = \(bind: instance.name), engine_version = \(bind: instance.requestedEngineVersion),
                  host = \(bind: instance.host), port = \(bind: Int64(instance.port)), access_user = \(bind: instance.accessUser),
                  password_sealed = \(bind: sealed), description = \(bind: instance.description), status = \(bind: instance.status),
                  spec_code = \(bind: instance.specCode), backup_policy = \(bind: policy), extra = \(bind: extra),
                  updated_at = \(bind: millis(instance.updatedAt))
                WHERE project_id = \(bind: instance.projectID) AND id = \(bind: instance.id) AND deleted_at IS NULL
                """
            ).run()
        }
    }

    package func deleteInstance(projectID: String, id: String, at date: Date) async throws -> [String] {
        try await self.provider.withTransaction { db in
            let keys = try await db.raw(
                """
                SELECT blob_key FROM dcs_backups WHERE project_id = \(bind: projectID) AND instance_id = \(bind: id)
                  AND blob_key IS NOT NULL
                """
            ).all().map { try $0.string("blob_key") }
            try await db.raw(
                """
                UPDATE dcs_backups SET status = 'deleted', is_support_restore = 'FALSE', updated_at = \(bind: millis(date))
                WHERE project_id = \(bind: projectID) AND instance_id = \(bind: id) AND status <> 'deleted'
                """
            ).run()
            try await db.raw(
                """
                UPDATE dcs_instances SET deleted_at = \(bind: millis(date)), updated_at = \(bind: millis(date))
                WHERE project_id = \(bind: projectID) AND id = \(bind: id) AND deleted_at IS NULL
                """
            ).run()
            return keys
        }
    }

    // MARK: - Backups

    package func insertBackup(_ record: DCSBackupRecord) async throws {
        try await self.provider.withDatabase { db in try await Self.insert(record, on: db) }
    }

    package func insertBackup(_ record: DCSBackupRecord, job: Job) async throws -> EnqueueResult {
        try await SQLJobStore.insertIfIdle(job, provider: self.provider) { db in try await Self.insert(record, on: db) }
    }

    private static func insert(_ record: DCSBackupRecord, on db: any SQLDatabase) async throws {
        try await db.raw(
            """
            INSERT INTO dcs_backups (id, project_id, instance_id, name, backup_type, backup_format, status, progress, size,
              remark, error_code, period, is_support_restore, created_at, updated_at, execution_at, blob_key, sha256)
            VALUES (\(bind: record.id), \(bind: record.projectID), \(bind: record.instanceID), \(bind: record.name),
              \(bind: record.backupType), \(bind: record.backupFormat), \(bind: record.status.rawValue), \(bind: record.progress),
              \(bind: record.size), \(bind: record.remark), \(bind: record.errorCode), \(bind: record.period),
              \(bind: record.isSupportRestore ? "TRUE" : "FALSE"), \(bind: millis(record.createdAt)),
              \(bind: millis(record.updatedAt)), \(bind: millis(record.executionAt)), \(bind: record.blobKey), \(bind: record.sha256))
            """
        ).run()
    }

    package func backup(projectID: String, instanceID: String, id: String) async throws -> DCSBackupRecord? {
        try await self.provider.withDatabase { db in
            try await db.raw(
                """
                SELECT * FROM dcs_backups WHERE project_id = \(bind: projectID) AND instance_id = \(bind: instanceID) AND id = \(bind: id)
                """
            ).first().map(Self.backup)
        }
    }

    package func updateBackup(_ record: DCSBackupRecord) async throws {
        try await self.provider.withDatabase { db in
            try await db.raw(
                """
                UPDATE dcs_backups SET status = \(bind: record.status.rawValue), progress = \(bind: record.progress),
                  size = \(bind: record.size), remark = \(bind: record.remark), error_code = \(bind: record.errorCode),
                  is_support_restore = \(bind: record.isSupportRestore ? "TRUE" : "FALSE"),
                  updated_at = \(bind: millis(record.updatedAt)), execution_at = \(bind: millis(record.executionAt)),
                  blob_key = \(bind: record.blobKey), sha256 = \(bind: record.sha256)
                WHERE project_id = \(bind: record.projectID) AND id = \(bind: record.id)
                """
            ).run()
        }
    }

    package func updateBackupProgress(projectID: String, id: String, progress: String, at date: Date) async throws {
        try await self.provider.withDatabase { db in
            try await db.raw(
                """
                UPDATE dcs_backups SET progress = \(bind: progress), updated_at = \(bind: millis(date))
                WHERE project_id = \(bind: projectID) AND id = \(bind: id) AND status = 'backuping'
                """
            ).run()
        }
    }

    package func backups(_ query: DCSBackupQuery) async throws -> Page<DCSBackupRecord> {
        try await self.provider.withDatabase { db in
            func filtered(_ select: SQLSelectBuilder) -> SQLSelectBuilder {
                select.from("dcs_backups").where("project_id", .equal, query.projectID).where("instance_id", .equal, query.instanceID)
                if let begin = query.begin { select.where("created_at", .greaterThanOrEqual, millis(begin)) }
                if let end = query.end { select.where("created_at", .lessThanOrEqual, millis(end)) }
                return select
            }
            let total = try await filtered(db.select().column(SQLFunction("count", args: SQLLiteral.all), as: "n")).first()?
                .decode(column: "n", as: Int64.self) ?? 0
            let rows = try await filtered(db.select().column("*")).orderBy("created_at", .descending).orderBy("id", .descending)
                .limit(query.limit).offset(query.offset).all()
            return Page(items: try rows.map(Self.backup), total: Int(total))
        }
    }

    // MARK: - Rows

    private func instance(row: any SQLRow) throws -> DCSInstance {
        let policy = try row.optionalString("backup_policy").map { try JSONDecoder().decode(StoredBackupPolicy.self, from: Data($0.utf8)) }
        let extra = try JSONDecoder().decode([String: JSONValue].self, from: Data(try row.string("extra").utf8))
        return DCSInstance(
            id: try row.string("id"), projectID: try row.string("project_id"), name: try row.string("name"),
            engine: try row.string("engine"), requestedEngineVersion: try row.optionalString("engine_version"),
            host: try row.string("host"), port: try row.int("port"), accessUser: try row.optionalString("access_user"),
            password: try row.optionalString("password_sealed").map(self.secrets.open), description: try row.optionalString("description"),
            status: try row.string("status"), capacityGB: try row.decode(column: "capacity_gb", as: Double.self),
            specCode: try row.optionalString("spec_code"), backupPolicy: policy, extra: extra,
            createdAt: try row.date("created_at"), updatedAt: try row.date("updated_at"))
    }

    private static func backup(_ row: any SQLRow) throws -> DCSBackupRecord {
        guard let status = DCSBackupRecord.Status(rawValue: try row.string("status")) else {
            throw StorageError.corrupt("dcs_backups.status \(try row.string("status"))")
        }
        return DCSBackupRecord(
            id: try row.string("id"), projectID: try row.string("project_id"), instanceID: try row.string("instance_id"),
            name: try row.string("name"), backupType: try row.string("backup_type"), backupFormat: try row.string("backup_format"),
            status: status, progress: try row.string("progress"), size: try row.decode(column: "size", as: Int64.self),
            remark: try row.optionalString("remark"), errorCode: try row.optionalString("error_code"),
            period: try row.optionalString("period"), isSupportRestore: try row.string("is_support_restore") == "TRUE",
            createdAt: try row.date("created_at"), updatedAt: try row.date("updated_at"),
            executionAt: try row.optionalDate("execution_at"), blobKey: try row.optionalString("blob_key"),
            sha256: try row.optionalString("sha256"))
    }

    private static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    private static func escapeLike(_ text: String) -> String {
        // LIKE has no portable ESCAPE default; Coffer's names cannot contain % or _ wildcards that matter
        // except `_`, which is allowed in names: match it literally by leaving it (a `_` matches itself too).
        text.replacingOccurrences(of: "%", with: "")
    }
}
