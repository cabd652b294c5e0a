import CofferCore
import CofferOperations
import Foundation
import Hummingbird
import Logging

/// DDM v3 backups (reference 3.2–3.5a): create (Coffer extension), show (seed 000, and its alias without
/// the instance), list, delete, and the restore helpers (3.5a–d): related data nodes at a point in time, restorable
/// windows, instances and data nodes that can take a restore.
struct DDMBackupController: Sendable {
    let operations: DDMBackupOperations
    let windows: DDMRestoreWindowQueries

    var routes: [Route] {
        [
            Route(.post, "/v3/{project_id}/instances/{instance_id}/backups", handler: self.create),
            Route(.get, "/v3/{project_id}/instances/{instance_id}/backups/{backup_id}", handler: self.show),
            Route(.get, "/v3/{project_id}/instances/{instance_id}/backups/related-dn", handler: self.relatedDataNodes),
            Route(.get, "/v3/{project_id}/instances/{instance_id}/backups/restorable-time-interval", handler: self.restorableTimeIntervals),
            Route(.get, "/v3/{project_id}/instances/{instance_id}/backups/restorable-instances", handler: self.restorableInstances),
            Route(.get, "/v3/{project_id}/instances/{instance_id}/backups/restorable-data-node", handler: self.restorableDataNodes),
            Route(.get, "/v3/{project_id}/backups/{backup_id}", handler: self.showAlias),
            Route(.get, "/v3/{project_id}/backups", handler: self.list),
            Route(.delete, "/v3/{project_id}/backups/{backup_id}", handler: self.delete),
        ]
    }

    /// `POST …/instances/{instance_id}/backups` → 202 `{job_id, backup_id}`; 409 `DBS.200019` while another runs.
    @Sendable func create(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        let body = try request.jsonObject()
        let name = try body?.string("name")
        if let name { guard (1...128).contains(name.count) else { throw DDMError.invalidParameter("name", "1 to 128 characters.") } }
        let description = try body?.string("description") ?? ""
        guard description.count <= 256 else { throw DDMError.invalidParameter("description", "At most 256 characters.") }
        let (backup, job) = try await self.operations.create(
            projectID: caller.project.id, instanceID: request.path("instance_id"), name: name, description: description, logger: request.logger)
        return try JSONCoding.response(BackupCreatedDTO(jobID: job.id, backupID: backup.id), status: .accepted)
    }

    /// Seed 000: exactly `id`, `name`, `instance_id`, `instance_name`, `related_data_nodes`.
    @Sendable func show(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        let backup = try await self.operations.backup(
            projectID: caller.project.id, instanceID: request.path("instance_id"), id: request.path("backup_id"))
        return try JSONCoding.response(BackupDetailDTO(backup))
    }

    /// `GET /v3/{project_id}/backups/{backup_id}`: the seed's own example URL, served as an alias.
    @Sendable func showAlias(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        return try JSONCoding.response(BackupDetailDTO(try await self.operations.backup(projectID: caller.project.id, id: request.path("backup_id"))))
    }

    /// `GET /v3/{project_id}/backups`, newest first.
    @Sendable func list(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        let offset = try request.intQuery("offset", in: 0...Int(Int32.max), default: 0)
        let limit = try request.intQuery("limit", in: 1...128, default: 10)
        var status: DDMBackup.Status?
        if let text = request.query["status"] {
            guard let value = DDMBackup.Status(rawValue: text) else {
                throw DDMError.invalidParameter("status", "Expected creating, normal, createfail or deleted.")
            }
            status = value
        }
        let page = try await self.operations.list(
            DDMBackupQuery(
                projectID: caller.project.id, instanceID: request.query["instance_id"], instanceName: request.query["instance_name"],
                backupName: request.query["backup_name"], status: status, offset: offset, limit: limit))
        let items = page.items.map { BackupInfoDTO(backup: $0.0, instance: $0.1) }
        return try JSONCoding.response(BackupPageDTO(total: page.total, offset: offset, limit: limit, backups: items))
    }

    /// `DELETE /v3/{project_id}/backups/{backup_id}` → 202 `{job_id}`; 409 while the backup is still being made.
    @Sendable func delete(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        let job = try await self.operations.delete(projectID: caller.project.id, id: request.path("backup_id"), logger: request.logger)
        return try JSONCoding.response(JobCreatedDTO(jobID: job.id), status: .accepted)
    }

    /// `GET …/backups/related-dn?restore_time=<epoch ms>` (reference 3.5a): the data nodes of the backup a restore
    /// at that time starts from (none when the time is outside every window), and the newest restorable time.
    @Sendable func relatedDataNodes(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        let at = try Self.restoreTime(request)
        let offset = try request.intQuery("offset", in: 0...Int(Int32.max), default: 0)
        let limit = try request.intQuery("limit", in: 1...128, default: 10)
        let related = try await self.windows.relatedDataNodes(projectID: caller.project.id, instanceID: request.path("instance_id"), at: at)
        let nodes = related.backup.map { backup in backup.relatedNodes.map { RelatedDataNodeDTO($0, backup: backup, node: related.nodes[$0.id]) } } ?? []
        return try JSONCoding.response(
            RelatedDataNodePageDTO(
                relatedDataNodes: Array(nodes.dropFirst(offset).prefix(limit)), offset: offset, limit: limit, total: nodes.count,
                latestRestorableTime: related.latest.map(WireTime.ddm)))
    }

    /// `GET …/backups/restorable-instances` (reference 3.5b): every DDM instance of the project with whether it can
    /// take a restore of this one.
    @Sendable func restorableInstances(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        let offset = try request.intQuery("offset", in: 0...Int(Int32.max), default: 0)
        let limit = try request.intQuery("limit", in: 1...128, default: 10)
        let all = try await self.windows.restorableInstances(projectID: caller.project.id, instanceID: request.path("instance_id"))
        return try JSONCoding.response(
            RestorableInstancePageDTO(
                instances: all.dropFirst(offset).prefix(limit).map { RestorableInstanceDTO(instance: $0.instance, activity: $0.activity, reason: $0.reason) },
                offset: offset, limit: limit, total: all.count))
    }

    /// `GET …/backups/restorable-data-node?target_instance_id=&source_dn_instance_id=&restore_time=` (reference
    /// 3.5c): the target instance's data nodes with whether each can take that source node's data at that time.
    @Sendable func restorableDataNodes(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        guard let target = request.query["target_instance_id"], Identifiers.isDDM(target, suffix: "in09") else {
            throw DDMError.invalidParameter("target_instance_id", "Expected 32 hex characters and in09.")
        }
        guard let sourceNode = request.query["source_dn_instance_id"], Identifiers.isDDM(sourceNode, suffix: "in01") else {
            throw DDMError.invalidParameter("source_dn_instance_id", "Expected 32 hex characters and in01.")
        }
        let at = try Self.restoreTime(request)
        let offset = try request.intQuery("offset", in: 0...Int(Int32.max), default: 0)
        let limit = try request.intQuery("limit", in: 1...128, default: 10)
        let judged = try await self.windows.restorableDataNodes(
            projectID: caller.project.id, instanceID: request.path("instance_id"), targetInstanceID: target, sourceNodeID: sourceNode, at: at)
        return try JSONCoding.response(
            RestorableDataNodePageDTO(
                targetDataNodes: judged.nodes.dropFirst(offset).prefix(limit).map {
                    RestorableDataNodeDTO(nodeID: $0.nodeID, node: $0.node, reason: $0.reason, target: judged.target)
                }, offset: offset, limit: limit, total: judged.nodes.count))
    }

    /// The required `restore_time` query (epoch milliseconds): missing or malformed → 400 `DBS.280001`.
    private static func restoreTime(_ request: APIRequest) throws -> Date {
        guard let at = try request.epochMillisecondsQuery("restore_time") else {
            throw DDMError.invalidParameter("restore_time", "Expected epoch milliseconds.")
        }
        return at
    }

    /// `GET …/backups/restorable-time-interval` (reference 3.5d): the windows, oldest first. `offset`/`limit` are
    /// not in the SDK model but the docs list them, so they are accepted and page the windows.
    @Sendable func restorableTimeIntervals(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        let offset = try request.intQuery("offset", in: 0...Int(Int32.max), default: 0)
        let limit = try request.intQuery("limit", in: 1...128, default: 10)
        let windows = try await self.windows.windows(projectID: caller.project.id, instanceID: request.path("instance_id"))
        return try JSONCoding.response(
            RestorableTimeIntervalPageDTO(
                restorableTimeIntervals: windows.dropFirst(offset).prefix(limit).map(RestorableTimeIntervalDTO.init), offset: offset,
                limit: limit, total: windows.count))
    }
}
