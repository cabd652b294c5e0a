import CofferCore
import Foundation
import SQLKit

/// `DDMStore` over SQL. Every query names the project; schema passwords are sealed with `SecretBox`.
package struct SQLDDMStore: DDMStore {
    private let provider: any DatabaseProvider
    private let secrets: SecretBox

    package init(provider: any DatabaseProvider, secrets: SecretBox) {
        self.provider = provider
        self.secrets = secrets
    }

    // MARK: - Data nodes

    package func insertDataNode(_ node: DataNode) async throws {
        try await self.provider.withDatabase { db in
            try await db.raw(
                """
                INSERT INTO ddm_data_nodes (id, project_id, name, host, port, engine_name, engine_version, created_at)
                VALUES (\(bind: node.id), \(bind: node.projectID), \(bind: node.name), \(bind: node.host), \(bind: Int64(node.port)),
                  \(bind: node.engineName), \(bind: node.engineVersion), \(bind: millis(node.createdAt)))
                """
            ).run()
        }
    }

    package func dataNode(projectID: String, id: String) async throws -> DataNode? {
        try await self.provider.withDatabase { db in
            try await db.raw("SELECT * FROM ddm_data_nodes WHERE project_id = \(bind: projectID) AND id = \(bind: id)").first().map(Self.node)
        }
    }

    package func dataNodes(projectID: String, offset: Int, limit: Int) async throws -> Page<DataNode> {
        try await self.provider.withDatabase { db in
            let total = try await db.raw("SELECT count(*) AS n FROM ddm_data_nodes WHERE project_id = \(bind: projectID)").first()?
                .decode(column: "n", as: Int64.self) ?? 0
            let rows = try await db.raw(
                """
                SELECT * FROM ddm_data_nodes WHERE project_id = \(bind: projectID) ORDER BY created_at, id
                LIMIT \(literal: Int64(limit)) OFFSET \(literal: Int64(offset))
                """
            ).all()
            return Page(items: try rows.map(Self.node), total: Int(total))
        }
    }

    package func dataNodes(projectID: String, ids: [String]) async throws -> [String: DataNode] {
        guard !ids.isEmpty else { return [:] }
        return try await self.provider.withDatabase { db in
            let rows = try await db.select().column("*").from("ddm_data_nodes").where("project_id", .equal, projectID)
                .where("id", .in, Array(Set(ids))).all()
            return Dictionary(try rows.map(Self.node).map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        }
    }

    package func dataNodeInUse(projectID: String, id: String) async throws -> Bool {
        try await self.provider.withDatabase { db in
            try await db.raw(
                """
                SELECT n.node_id FROM ddm_schema_nodes n JOIN ddm_instances i ON i.id = n.instance_id
                WHERE n.project_id = \(bind: projectID) AND n.node_id = \(bind: id) AND i.deleted_at IS NULL LIMIT 1
                """
            ).first() != nil
        }
    }

    package func deleteDataNode(projectID: String, id: String) async throws {
        try await self.provider.withDatabase { db in
            try await db.raw("DELETE FROM ddm_data_nodes WHERE project_id = \(bind: projectID) AND id = \(bind: id)").run()
        }
    }

    private static func node(_ row: any SQLRow) throws -> DataNode {
        DataNode(
            id: try row.string("id"), projectID: try row.string("project_id"), name: try row.string("name"), host: try row.string("host"),
            port: try row.int("port"), engineName: try row.string("engine_name"), engineVersion: try row.string("engine_version"),
            createdAt: try row.date("created_at"))
    }

    // MARK: - Instances

    package func insertInstance(_ instance: DDMInstance) async throws {
        let zones = try Self.json(instance.availableZones)
        try await self.provider.withDatabase { db in
            try await db.raw(
                """
                INSERT INTO ddm_instances (id, project_id, name, status, flavor_id, node_num, engine_id, available_zones, vpc_id,
                  subnet_id, security_group_id, time_zone, admin_user_name, enterprise_project_id, created_at, updated_at, deleted_at)
                VALUES (\(bind: instance.id), \(bind: instance.projectID), \(bind: instance.name), \(bind: instance.status),
                  \(bind: instance.flavorID), \(bind: Int64(instance.nodeNum)), \(bind: instance.engineID), \(bind: zones),
                  \(bind: instance.vpcID), \(bind: instance.subnetID), \(bind: instance.securityGroupID), \(bind: instance.timeZone),
                  \(bind: instance.adminUserName), \(bind: instance.enterpriseProjectID), \(bind: millis(instance.createdAt)),
                  \(bind: millis(instance.updatedAt)), NULL)
                """
            ).run()
        }
    }

    package func instance(projectID: String, id: String) async throws -> DDMInstance? {
        try await self.provider.withDatabase { db in
            try await db.raw(
                "SELECT * FROM ddm_instances WHERE project_id = \(bind: projectID) AND id = \(bind: id) AND deleted_at IS NULL"
            ).first().map(Self.instance)
        }
    }

    package func liveInstanceIDs(projectID: String, among ids: [String]) async throws -> Set<String> {
        guard !ids.isEmpty else { return [] }
        return try await self.provider.withDatabase { db in
            let rows = try await db.select().column("id").from("ddm_instances").where("project_id", .equal, projectID)
                .where("id", .in, Array(Set(ids))).where("deleted_at", .is, SQLLiteral.null).all()
            return Set(try rows.map { try $0.decode(column: "id", as: String.self) })
        }
    }

    package func instanceNameExists(projectID: String, name: String) async throws -> Bool {
        try await self.provider.withDatabase { db in
            try await db.raw(
                "SELECT id FROM ddm_instances WHERE project_id = \(bind: projectID) AND name = \(bind: name) AND deleted_at IS NULL"
            ).first() != nil
        }
    }

    package func instances(projectID: String, offset: Int, limit: Int) async throws -> Page<DDMInstance> {
        try await self.provider.withDatabase { db in
            let total = try await db.raw(
                "SELECT count(*) AS n FROM ddm_instances WHERE project_id = \(bind: projectID) AND deleted_at IS NULL"
            ).first()?.decode(column: "n", as: Int64.self) ?? 0
            let rows = try await db.raw(
                """
                SELECT * FROM ddm_instances WHERE project_id = \(bind: projectID) AND deleted_at IS NULL ORDER BY created_at DESC, id
                LIMIT \(literal: Int64(limit)) OFFSET \(literal: Int64(offset))
                """
            ).all()
            return Page(items: try rows.map(Self.instance), total: Int(total))
        }
    }

    package func allInstances() async throws -> [DDMInstance] {
        try await self.provider.withDatabase { db in
            try await db.raw("SELECT * FROM ddm_instances WHERE deleted_at IS NULL ORDER BY created_at").all().map(Self.instance)
        }
    }

    package func deleteInstance(projectID: String, id: String, at date: Date) async throws {
        try await self.provider.withTransaction { db in
            try await db.raw(
                """
                UPDATE ddm_instances SET deleted_at = \(bind: millis(date)), updated_at = \(bind: millis(date)), status = 'DELETED'
                WHERE project_id = \(bind: projectID) AND id = \(bind: id) AND deleted_at IS NULL
                """
            ).run()
            try await db.raw("DELETE FROM ddm_schema_nodes WHERE project_id = \(bind: projectID) AND instance_id = \(bind: id)").run()
            try await db.raw("DELETE FROM ddm_schemas WHERE project_id = \(bind: projectID) AND instance_id = \(bind: id)").run()
        }
    }

    private static func instance(_ row: any SQLRow) throws -> DDMInstance {
        let zones = try JSONDecoder().decode([String].self, from: Data(try row.string("available_zones").utf8))
        return DDMInstance(
            id: try row.string("id"), projectID: try row.string("project_id"), name: try row.string("name"),
            status: try row.string("status"), flavorID: try row.string("flavor_id"), nodeNum: try row.int("node_num"),
            engineID: try row.string("engine_id"), availableZones: zones, vpcID: try row.string("vpc_id"),
            subnetID: try row.string("subnet_id"), securityGroupID: try row.string("security_group_id"),
            timeZone: try row.string("time_zone"), adminUserName: try row.optionalString("admin_user_name"),
            enterpriseProjectID: try row.optionalString("enterprise_project_id"), createdAt: try row.date("created_at"),
            updatedAt: try row.date("updated_at"))
    }

    // MARK: - Schemas

    package func insertSchema(_ schema: DDMSchema) async throws {
        let sealed = try schema.parts.map { part in (part, try self.secrets.seal(part.adminPassword), try Self.json(part.databases)) }
        try await self.provider.withTransaction { db in
            try await db.raw(
                """
                INSERT INTO ddm_schemas (project_id, instance_id, name, shard_mode, shard_number, created_at)
                VALUES (\(bind: schema.projectID), \(bind: schema.instanceID), \(bind: schema.name), \(bind: schema.shardMode),
                  \(bind: Int64(schema.shardNumber)), \(bind: millis(schema.createdAt)))
                """
            ).run()
            for (position, (part, password, databases)) in sealed.enumerated() {
                try await db.raw(
                    """
                    INSERT INTO ddm_schema_nodes (project_id, instance_id, schema_name, position, node_id, admin_user, password_sealed, databases)
                    VALUES (\(bind: schema.projectID), \(bind: schema.instanceID), \(bind: schema.name), \(bind: Int64(position)),
                      \(bind: part.nodeID), \(bind: part.adminUser), \(bind: password), \(bind: databases))
                    """
                ).run()
            }
        }
    }

    package func schemas(projectID: String, instanceID: String) async throws -> [DDMSchema] {
        let (schemaRows, partRows) = try await self.provider.withDatabase { db -> ([any SQLRow], [any SQLRow]) in
            let schemas = try await db.raw(
                "SELECT * FROM ddm_schemas WHERE project_id = \(bind: projectID) AND instance_id = \(bind: instanceID) ORDER BY created_at, name"
            ).all()
            let parts = try await db.raw(
                """
                SELECT * FROM ddm_schema_nodes WHERE project_id = \(bind: projectID) AND instance_id = \(bind: instanceID)
                ORDER BY schema_name, position
                """
            ).all()
            return (schemas, parts)
        }
        var parts: [String: [DDMSchema.NodePart]] = [:]
        for row in partRows {
            let databases = try JSONDecoder().decode([String].self, from: Data(try row.string("databases").utf8))
            parts[try row.string("schema_name"), default: []].append(
                DDMSchema.NodePart(
                    nodeID: try row.string("node_id"), adminUser: try row.string("admin_user"),
                    adminPassword: try self.secrets.open(try row.string("password_sealed")), databases: databases))
        }
        return try schemaRows.map { row in
            let name = try row.string("name")
            return DDMSchema(
                projectID: try row.string("project_id"), instanceID: try row.string("instance_id"), name: name,
                shardMode: try row.string("shard_mode"), shardNumber: try row.int("shard_number"), parts: parts[name] ?? [],
                createdAt: try row.date("created_at"))
        }
    }

    // MARK: - Backups

    package func insertBackup(_ backup: DDMBackup) async throws {
        try await self.provider.withDatabase { db in try await Self.insert(backup, on: db) }
    }

    package func insertBackup(_ backup: DDMBackup, job: Job) async throws -> EnqueueResult {
        try await SQLJobStore.insertIfIdle(job, provider: self.provider) { db in try await Self.insert(backup, on: db) }
    }

    private static func insert(_ backup: DDMBackup, on db: any SQLDatabase) async throws {
        let related = try Self.json(backup.relatedNodes)
        let files = try Self.json(backup.files)
        try await db.raw(
            """
            INSERT INTO ddm_backups (id, project_id, instance_id, instance_name, name, description, backup_type, status, size,
              related_nodes, files, metadata_key, metadata_sha256, error, created_at, updated_at, cut_at)
            VALUES (\(bind: backup.id), \(bind: backup.projectID), \(bind: backup.instanceID), \(bind: backup.instanceName),
              \(bind: backup.name), \(bind: backup.description), \(bind: backup.backupType), \(bind: backup.status.rawValue),
              \(bind: backup.size), \(bind: related), \(bind: files), \(bind: backup.metadataKey), \(bind: backup.metadataSHA256),
              \(bind: backup.error), \(bind: millis(backup.createdAt)), \(bind: millis(backup.updatedAt)), \(bind: millis(backup.cutAt)))
            """
        ).run()
    }

    package func backup(projectID: String, id: String) async throws -> DDMBackup? {
        try await self.provider.withDatabase { db in
            try await db.raw("SELECT * FROM ddm_backups WHERE project_id = \(bind: projectID) AND id = \(bind: id)").first().map(Self.backup)
        }
    }

    package func updateBackup(_ backup: DDMBackup) async throws {
        _ = try await self.updateBackup(backup, ifStatusIn: Set(DDMBackup.Status.allCases))
    }

    package func updateBackup(_ backup: DDMBackup, ifStatusIn expected: Set<DDMBackup.Status>) async throws -> Bool {
        let related = try Self.json(backup.relatedNodes)
        let files = try Self.json(backup.files)
        let statuses = expected.map(\.rawValue).sorted()
        return try await self.provider.withDatabase { db in
            try await db.raw(
                """
                UPDATE ddm_backups SET status = \(bind: backup.status.rawValue), size = \(bind: backup.size),
                  related_nodes = \(bind: related), files = \(bind: files), metadata_key = \(bind: backup.metadataKey),
                  metadata_sha256 = \(bind: backup.metadataSHA256), error = \(bind: backup.error),
                  updated_at = \(bind: millis(backup.updatedAt)), cut_at = \(bind: millis(backup.cutAt))
                WHERE project_id = \(bind: backup.projectID) AND id = \(bind: backup.id) AND status IN (\(binds: statuses))
                RETURNING id
                """
            ).all().count == 1
        }
    }

    package func backups(_ query: DDMBackupQuery) async throws -> Page<DDMBackup> {
        try await self.provider.withDatabase { db in
            func filtered(_ select: SQLSelectBuilder) -> SQLSelectBuilder {
                select.from("ddm_backups").where("project_id", .equal, query.projectID)
                if let id = query.instanceID { select.where("instance_id", .equal, id) }
                if let name = query.instanceName { select.where("instance_name", .equal, name) }
                if let name = query.backupName { select.where("name", .equal, name) }
                if let status = query.status { select.where("status", .equal, status.rawValue) }
                if let before = query.createdBefore {
                    // The consistent point where recorded (`DDMBackup.cutInstant`), else the creation time.
                    select.where(
                        SQLFunction("COALESCE", args: SQLColumn("cut_at"), SQLColumn("created_at")), .lessThanOrEqual, SQLBind(millis(before)))
                }
                return select
            }
            let total = try await filtered(db.select().column(SQLFunction("count", args: SQLLiteral.all), as: "n")).first()?
                .decode(column: "n", as: Int64.self) ?? 0
            let rows = try await filtered(db.select().column("*")).orderBy("created_at", .descending).orderBy("id", .descending)
                .limit(query.limit).offset(query.offset).all()
            return Page(items: try rows.map(Self.backup), total: Int(total))
        }
    }

    package func latestBackup(projectID: String, instanceID: String, backupType: String) async throws -> DDMBackup? {
        try await self.provider.withDatabase { db in
            try await db.raw(
                """
                SELECT * FROM ddm_backups WHERE project_id = \(bind: projectID) AND instance_id = \(bind: instanceID)
                  AND backup_type = \(bind: backupType) AND status <> 'deleted' ORDER BY created_at DESC, id DESC LIMIT 1
                """
            ).first().map(Self.backup)
        }
    }

    private static func backup(_ row: any SQLRow) throws -> DDMBackup {
        guard let status = DDMBackup.Status(rawValue: try row.string("status")) else {
            throw StorageError.corrupt("ddm_backups.status \(try row.string("status"))")
        }
        let decoder = JSONDecoder()
        var backup = DDMBackup(
            id: try row.string("id"), projectID: try row.string("project_id"), instanceID: try row.string("instance_id"),
            instanceName: try row.string("instance_name"), name: try row.string("name"), description: try row.string("description"),
            backupType: try row.string("backup_type"), status: status, size: try row.decode(column: "size", as: Int64.self),
            relatedNodes: try decoder.decode([DDMBackup.RelatedNode].self, from: Data(try row.string("related_nodes").utf8)),
            files: try decoder.decode([DDMBackup.File].self, from: Data(try row.string("files").utf8)),
            metadataKey: try row.optionalString("metadata_key"), metadataSHA256: try row.optionalString("metadata_sha256"),
            error: try row.optionalString("error"), createdAt: try row.date("created_at"), updatedAt: try row.date("updated_at"))
        backup.cutAt = try row.optionalDate("cut_at")
        return backup
    }

    private static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
