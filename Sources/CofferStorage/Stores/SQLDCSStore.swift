import CofferCore
import Foundation
import SQLKit

/// `DCSStore` over SQL. Every query names the project: one project never reads another's rows.
package struct SQLDCSStore: DCSStore {
    let provider: any DatabaseProvider
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
        let topology = try instance.topology.map(Self.json)
        try await self.provider.withDatabase { db in
            try await db.raw(
                """
                INSERT INTO dcs_instances (id, project_id, name, engine, engine_version, host, port, access_user, password_sealed,
                  description, status, capacity_gb, spec_code, backup_policy, extra, created_at, updated_at, deleted_at, topology)
                VALUES (\(bind: instance.id), \(bind: instance.projectID), \(bind: instance.name), \(bind: instance.engine),
                  \(bind: instance.requestedEngineVersion), \(bind: instance.host), \(bind: Int64(instance.port)),
                  \(bind: instance.accessUser), \(bind: sealed), \(bind: instance.description), \(bind: instance.status),
                  \(bind: instance.capacityGB), \(bind: instance.specCode), \(bind: policy), \(bind: extra),
                  \(bind: millis(instance.createdAt)), \(bind: millis(instance.updatedAt)), NULL, \(bind: topology))
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

    package func updateInstanceTopology(projectID: String, id: String, topology: DCSTopology) async throws {
        let json = try Self.json(topology)
        try await self.provider.withDatabase { db in
            try await db.raw(
                """
                UPDATE dcs_instances SET topology = \(bind: json)
                WHERE project_id = \(bind: projectID) AND id = \(bind: id) AND deleted_at IS NULL
                """
            ).run()
        }
    }

    package func deleteInstance(projectID: String, id: String, at date: Date) async throws -> [String] {
        try await self.provider.withTransaction { db in
            let keys = try await db.raw(
                """
                SELECT blob_key, shards FROM dcs_backups WHERE project_id = \(bind: projectID) AND instance_id = \(bind: id)
                  AND (blob_key IS NOT NULL OR shards IS NOT NULL)
                """
            ).all().flatMap { row -> [String] in
                let shards = try row.optionalString("shards").map { try BackupRow.shards(json: $0) } ?? []
                let keys = (try row.optionalString("blob_key").map { [$0] } ?? []) + shards.map(\.blobKey)
                // A master/standby backup's one shard file is also its `blob_key`.
                return keys.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
            }
            try await db.raw(
                """
                UPDATE dcs_backups SET status = 'deleted', is_support_restore = 0, updated_at = \(bind: millis(date))
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
        try await self.provider.withTransaction { db in try await Self.insert(record, on: db) }
    }

    package func insertBackup(_ record: DCSBackupRecord, job: Job) async throws -> EnqueueResult {
        try await SQLJobStore.insertIfIdle(job, provider: self.provider) { db in try await Self.insert(record, on: db) }
    }

    /// The record and its day's and hour's counts, in the caller's transaction: the count tables are exact only if
    /// they never part from the records. Records are never removed and never change project, instance or
    /// `created_at` (a deleted backup stays listed as `deleted`), so inserting is the only write that moves a count.
    static func insert(_ record: DCSBackupRecord, on db: any SQLDatabase) async throws {
        let row = BackupRow(record)
        try await db.insert(into: "dcs_backups").model(row, nilEncodingStrategy: .asNil).run()
        for level in BackupCounts.levels {
            try await db.raw(
                """
                INSERT INTO \(unsafeRaw: level.table) (project_id, instance_id, \(unsafeRaw: level.column), records)
                VALUES (\(bind: row.projectID), \(bind: row.instanceID), \(bind: BackupCounts.bucket(row.createdAt, level)), 1)
                ON CONFLICT (project_id, instance_id, \(unsafeRaw: level.column)) DO UPDATE SET records = \(unsafeRaw: level.table).records + 1
                """
            ).run()
        }
    }

    package func backup(projectID: String, instanceID: String, id: String) async throws -> DCSBackupRecord? {
        try await self.provider.withDatabase { db in
            try await db.select().column("*").from("dcs_backups").where("project_id", .equal, projectID)
                .where("instance_id", .equal, instanceID).where("id", .equal, id)
                .first().map(BackupRow.record(from:))
        }
    }

    package func updateBackup(_ record: DCSBackupRecord) async throws {
        _ = try await self.updateBackup(record, ifStatusIn: Set(DCSBackupRecord.Status.allCases))
    }

    package func updateBackup(_ record: DCSBackupRecord, ifStatusIn expected: Set<DCSBackupRecord.Status>) async throws -> Bool {
        let columns = try SQLQueryEncoder(nilEncodingStrategy: .asNil).encode(BackupRow(record))
            .filter { !BackupRow.fixedColumns.contains($0.0) }
        return try await self.provider.withDatabase { db in
            try await columns.reduce(db.update("dcs_backups")) { $0.set(SQLColumn($1.0), to: $1.1) }
                .where("project_id", .equal, record.projectID).where("id", .equal, record.id)
                .where("status", .in, expected.map(\.rawValue).sorted())
                .returning("id")
                .all().count == 1
        }
    }

    package func updateBackupProgress(projectID: String, id: String, progress: DCSBackupRecord.Progress, at date: Date) async throws {
        try await self.provider.withDatabase { db in
            try await db.raw(
                """
                UPDATE dcs_backups SET progress = \(bind: progress.hundredths), updated_at = \(bind: millis(date))
                WHERE project_id = \(bind: projectID) AND id = \(bind: id) AND status = 'backuping'
                """
            ).run()
        }
    }

    package func backups(_ query: DCSBackupQuery) async throws -> Page<DCSBackupRecord>? {
        let window = BackupCounts.Window(begin: query.begin.map(millis), end: query.end.map(millis))
        let count = Self.countExpression(projectID: query.projectID, instanceID: query.instanceID, window: window)
        let live: SQLQueryString = """
            EXISTS (SELECT 1 FROM dcs_instances WHERE project_id = \(bind: query.projectID) AND id = \(bind: query.instanceID)
              AND deleted_at IS NULL)
            """
        var sql: SQLQueryString = """
            SELECT \(unsafeRaw: BackupRow.selectList), \(count) AS total_num FROM dcs_backups
            WHERE project_id = \(bind: query.projectID) AND instance_id = \(bind: query.instanceID) AND \(live)
            """
        if let begin = window.begin { sql += " AND created_at >= \(bind: begin)" }
        if let end = window.end { sql += " AND created_at <= \(bind: end)" }
        // LIMIT and OFFSET as literals, not binds: SQLite plans with a bound LIMIT's value and so marks the
        // statement to be prepared again once it is bound, which cost a second prepare on every list.
        sql += " ORDER BY created_at DESC, id DESC LIMIT \(literal: Int64(query.limit)) OFFSET \(literal: Int64(query.offset))"
        let page = sql
        return try await self.provider.withDatabase { db in
            // One round trip for the common case: the page carries the count as a constant column (evaluated once)
            // and is empty unless the instance is live, so the instance needs no query of its own.
            let rows = try await db.raw(page).all()
            if let first = rows.first {
                return Page(items: try rows.map(BackupRow.record(from:)), total: Int(try first.decode(column: "total_num", as: Int64.self)))
            }
            // An empty page (past the end, no match, or no such instance) has no row to carry the count.
            guard let row = try await db.raw("SELECT \(count) AS n, CASE WHEN \(live) THEN 1 ELSE 0 END AS live").first(),
                try row.decode(column: "live", as: Int64.self) == 1
            else { return nil }
            return Page(items: [], total: Int(try row.decode(column: "n", as: Int64.self)))
        }
    }

    /// `total_num` without visiting every matching record: whole UTC days and the whole hours of the partial
    /// edge days come from the count tables, and only the partial edge hours are counted in the `(project_id,
    /// instance_id, created_at, id)` index, each from its shorter side (``BackupCounts/Window/plan``): at most two
    /// half hours of records, whatever the window. A constant expression of scalar subqueries, so that it can ride
    /// along the page query.
    static func countExpression(projectID: String, instanceID: String, window: BackupCounts.Window) -> SQLQueryString {
        func count(_ term: BackupCounts.Term) -> SQLQueryString {
            switch term {
            case .buckets(let level, let first, let last):
                var sum: SQLQueryString = """
                    (SELECT COALESCE(SUM(records), 0) FROM \(unsafeRaw: level.table)
                      WHERE project_id = \(bind: projectID) AND instance_id = \(bind: instanceID)
                    """
                if let first { sum += " AND \(unsafeRaw: level.column) >= \(bind: first)" }
                if let last { sum += " AND \(unsafeRaw: level.column) <= \(bind: last)" }
                sum += ")"
                return sum
            case .index(let range):
                return """
                    (SELECT COUNT(*) FROM dcs_backups WHERE project_id = \(bind: projectID) AND instance_id = \(bind: instanceID)
                      AND created_at >= \(bind: range.lowerBound) AND created_at <= \(bind: range.upperBound))
                    """
            }
        }
        let plan = window.plan
        var sql: SQLQueryString = "CAST("
        if plan.added.isEmpty { sql += "0" }  // an empty window
        for (index, term) in plan.added.enumerated() {
            if index > 0 { sql += " + " }
            sql += count(term)
        }
        for term in plan.subtracted {
            sql += " - "
            sql += count(term)
        }
        sql += " AS BIGINT)"
        return sql
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
            createdAt: try row.date("created_at"), updatedAt: try row.date("updated_at"),
            topology: try row.optionalString("topology").map { try JSONDecoder().decode(DCSTopology.self, from: Data($0.utf8)) })
    }

    private static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func escapeLike(_ text: String) -> String {
        // LIKE has no portable ESCAPE default; Coffer's names cannot contain % or _ wildcards that matter
        // except `_`, which is allowed in names: match it literally by leaving it (a `_` matches itself too).
        text.replacingOccurrences(of: "%", with: "")
    }
}

/// A `dcs_backups` row, column for column: the one place the storage form of a backup record is spelled out
/// (style guide §3 #6: TEXT ids and enums, BIGINT epoch milliseconds, INTEGER flags and counters).
struct BackupRow: Encodable, Sendable {
    var id: String
    var projectID: String
    var instanceID: String
    var name: String
    var backupType: DCSBackupRecord.BackupType
    var backupFormat: DCSBackupRecord.Format
    var status: DCSBackupRecord.Status
    /// Hundredths of a percent, 0…10000.
    var progress: Int
    var size: Int64
    var remark: String?
    var errorCode: String?
    var period: String?
    /// 0 or 1.
    var isSupportRestore: Int
    var createdAt: Int64
    var updatedAt: Int64
    var executionAt: Int64?
    var blobKey: String?
    var sha256: String?
    /// JSON `[DCSBackupShard]`, or NULL.
    var shards: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id, projectID = "project_id", instanceID = "instance_id", name, backupType = "backup_type"
        case backupFormat = "backup_format", status, progress, size, remark, errorCode = "error_code", period
        case isSupportRestore = "is_support_restore", createdAt = "created_at", updatedAt = "updated_at"
        case executionAt = "execution_at", blobKey = "blob_key", sha256, shards
    }

    /// Set once at creation: `updateBackup` leaves them alone (the day counts rely on project, instance and
    /// `created_at` never moving).
    static let fixedColumns: Set<String> = Set(
        [CodingKeys.id, .projectID, .instanceID, .name, .backupType, .backupFormat, .period, .createdAt].map(\.stringValue))

    init(_ record: DCSBackupRecord) {
        self.id = record.id
        self.projectID = record.projectID
        self.instanceID = record.instanceID
        self.name = record.name
        self.backupType = record.backupType
        self.backupFormat = record.backupFormat
        self.status = record.status
        self.progress = record.progress.hundredths
        self.size = record.size
        self.remark = record.remark
        self.errorCode = record.errorCode
        self.period = record.period
        self.isSupportRestore = record.isSupportRestore ? 1 : 0
        self.createdAt = millis(record.createdAt)
        self.updatedAt = millis(record.updatedAt)
        self.executionAt = millis(record.executionAt)
        self.blobKey = record.blobKey
        self.sha256 = record.sha256
        // Encoding plain values cannot fail; a nil here would only lose the shard list of a record that has one.
        self.shards = record.shards.flatMap { try? String(decoding: JSONEncoder().encode($0), as: UTF8.self) }
    }

    static func shards(json: String) throws -> [DCSBackupShard] {
        try JSONDecoder().decode([DCSBackupShard].self, from: Data(json.utf8))
    }

    /// The columns a record is read from, in `record(from:)`'s terms.
    static let selectList = CodingKeys.allCases.map(\.stringValue).joined(separator: ", ")
    /// The columns in `selectList` order; a column's index here is its place in the row.
    private static let columns = CodingKeys.allCases

    /// Reads a record column by column: lists decode many rows per request, and the generic `Decodable` row
    /// decoder cost more than the query itself there.
    static func record(from row: any SQLRow) throws -> DCSBackupRecord {
        // SQLite's rows are read at each column's place in `selectList` (checked, by name otherwise), not by a name
        // lookup per value: a list page reads 19 columns of each of its records.
        let sqlite = row as? SQLiteHandleRow
        func value<T: Decodable>(_ key: CodingKeys, _ type: T.Type, at position: Int? = nil) throws -> T {
            guard let sqlite else { return try row.decode(column: key.stringValue, as: type) }
            return try sqlite.decode(column: key.stringValue, position: position ?? Self.columns.firstIndex(of: key), as: type)
        }
        // NULL checked first: SQLite's row decodes an `Optional` through a generic nested decoder, several
        // times the cost of the plain type (a list page has six optional columns a record).
        func optional<T: Decodable>(_ key: CodingKeys, _ type: T.Type) throws -> T? {
            guard let sqlite else { return try row.decodeNil(column: key.stringValue) ? nil : row.decode(column: key.stringValue, as: type) }
            let position = Self.columns.firstIndex(of: key)
            return try sqlite.decodeNil(column: key.stringValue, position: position) ? nil : value(key, type, at: position)
        }
        func code<T: RawRepresentable<String>>(_ key: CodingKeys, _ type: T.Type) throws -> T {
            let raw = try value(key, String.self)
            guard let parsed = T(rawValue: raw) else {
                throw DecodingError.dataCorrupted(.init(codingPath: [key], debugDescription: "unknown value '\(raw)'"))
            }
            return parsed
        }
        return DCSBackupRecord(
            id: try value(.id, String.self), projectID: try value(.projectID, String.self), instanceID: try value(.instanceID, String.self),
            name: try value(.name, String.self), backupType: try code(.backupType, DCSBackupRecord.BackupType.self),
            backupFormat: try code(.backupFormat, DCSBackupRecord.Format.self), status: try code(.status, DCSBackupRecord.Status.self),
            progress: DCSBackupRecord.Progress(hundredths: Int(try value(.progress, Int64.self))), size: try value(.size, Int64.self),
            remark: try optional(.remark, String.self), errorCode: try optional(.errorCode, String.self), period: try optional(.period, String.self),
            isSupportRestore: try value(.isSupportRestore, Int64.self) != 0,
            createdAt: WireTime.date(epochMilliseconds: try value(.createdAt, Int64.self)),
            updatedAt: WireTime.date(epochMilliseconds: try value(.updatedAt, Int64.self)),
            executionAt: try optional(.executionAt, Int64.self).map { WireTime.date(epochMilliseconds: $0) },
            blobKey: try optional(.blobKey, String.self), sha256: try optional(.sha256, String.self),
            shards: try optional(.shards, String.self).map(Self.shards(json:)))
    }
}
