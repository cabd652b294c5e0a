import CofferCore
import CofferOperations
import Foundation
import Hummingbird
import Logging

/// DDM v3 backups (reference 3.2–3.5a): create (Coffer extension), show (seed 000, and its alias without
/// the instance), list, delete, and related data nodes at a point in time.
struct DDMBackupController: Sendable {
    let operations: DDMBackupOperations
    let windows: DDMRestoreWindowQueries

    var routes: [Route] {
        [
            Route(.post, "/v3/{project_id}/instances/{instance_id}/backups", handler: self.create),
            Route(.get, "/v3/{project_id}/instances/{instance_id}/backups/{backup_id}", handler: self.show),
            Route(.get, "/v3/{project_id}/instances/{instance_id}/backups/related-dn", handler: self.relatedDataNodes),
            Route(.get, "/v3/{project_id}/instances/{instance_id}/backups/restorable-time-interval", handler: self.restorableTimeIntervals),
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

    /// `GET …/backups/related-dn?restore_time=<epoch ms>`: the data nodes of the newest usable backup taken at
    /// or before that time (reference 3.5a).
    @Sendable func relatedDataNodes(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        guard let at = try request.epochMillisecondsQuery("restore_time") else {
            throw DDMError.invalidParameter("restore_time", "Expected epoch milliseconds.")
        }
        let offset = try request.intQuery("offset", in: 0...Int(Int32.max), default: 0)
        let limit = try request.intQuery("limit", in: 1...128, default: 10)
        let related = try await self.operations.relatedDataNodes(projectID: caller.project.id, instanceID: request.path("instance_id"), at: at)
        let nodes = related.backup.map { backup in backup.relatedNodes.map { RelatedDataNodeDTO($0, backup: backup, node: related.nodes[$0.id]) } } ?? []
        return try JSONCoding.response(
            RelatedDataNodePageDTO(
                relatedDataNodes: Array(nodes.dropFirst(offset).prefix(limit)), offset: offset, limit: limit, total: nodes.count,
                latestRestorableTime: related.latest.map(WireTime.ddm)))
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
