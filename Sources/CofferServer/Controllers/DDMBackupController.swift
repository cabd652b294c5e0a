import CofferCore
import Foundation
import Hummingbird
import Logging

/// DDM v3 backups (reference 3.2–3.5a): create (Coffer extension), show (seed 000, and its alias without
/// the instance), list, delete, and related data nodes at a point in time.
package struct DDMBackupController: Sendable {
    let store: any DDMStore
    let jobs: any JobStore
    let clock: @Sendable () -> Date

    var routes: [Route] {
        [
            Route(.post, "/v3/{project_id}/instances/{instance_id}/backups", handler: self.create),
            Route(.get, "/v3/{project_id}/instances/{instance_id}/backups/{backup_id}", handler: self.show),
            Route(.get, "/v3/{project_id}/instances/{instance_id}/backups/related-dn", handler: self.relatedDataNodes),
            Route(.get, "/v3/{project_id}/backups/{backup_id}", handler: self.showAlias),
            Route(.get, "/v3/{project_id}/backups", handler: self.list),
            Route(.delete, "/v3/{project_id}/backups/{backup_id}", handler: self.delete),
        ]
    }

    /// `POST …/instances/{instance_id}/backups` → 202 `{job_id, backup_id}`; 409 `DBS.200019` while another runs.
    @Sendable func create(_ request: APIRequest) async throws -> Response {
        let instance = try await DDMLookup.instance(request, store: self.store)
        let body = try request.jsonObject()
        let name = try body?.string("name")
        if let name { guard (1...128).contains(name.count) else { throw DDMError.invalidParameter("name", "1 to 128 characters.") } }
        let description = try body?.string("description") ?? ""
        guard description.count <= 256 else { throw DDMError.invalidParameter("description", "At most 256 characters.") }
        let (backup, job) = try await Self.enqueueBackup(
            instance: instance, name: name, description: description, backupType: "metadata", store: self.store, jobs: self.jobs,
            now: self.clock())
        request.logger.info("DDM backup queued", metadata: ["ddm.backup.id": "\(backup.id)", "job.id": "\(job.id)"])
        return try JSONCoding.response(["job_id": job.id, "backup_id": backup.id], status: .accepted)
    }

    /// Creates the `creating` record and its job; shared with the daily scheduler.
    package static func enqueueBackup(
        instance: DDMInstance, name: String?, description: String, backupType: String, store: any DDMStore, jobs: any JobStore, now: Date
    ) async throws -> (DDMBackup, Job) {
        guard try await jobs.activeJob(projectID: instance.projectID, resourceID: instance.id) == nil else { throw DDMError.busy }
        let millis = WireTime.epochMilliseconds(now) % 1000
        let backup = DDMBackup(
            id: Identifiers.ddm(suffix: "br09"), projectID: instance.projectID, instanceID: instance.id, instanceName: instance.name,
            name: name ?? "Backup-\(instance.name)-\(WireTime.compact(now))\(String(format: "%03d", millis))",
            description: description, backupType: backupType, status: .creating, size: 0,
            relatedNodes: try await Self.relatedNodes(of: instance, store: store), files: [], metadataKey: nil, metadataSHA256: nil,
            error: nil, createdAt: now, updatedAt: now)
        let job = Job.new(
            kind: DDMBackupJob.kind, projectID: instance.projectID, resourceID: instance.id,
            payload: DDMJobPayload(backupID: backup.id, instanceID: instance.id, instanceName: instance.name).json, now: now)
        // The check above answers most requests cheaply; the database closes the race between two of them, and
        // record and job are written together, so a crash never leaves a `creating` backup without its job.
        guard try await store.insertBackup(backup, job: job) else { throw DDMError.busy }
        return (backup, job)
    }

    /// The data nodes an instance's schemas use, in first-use order.
    static func relatedNodes(of instance: DDMInstance, store: any DDMStore) async throws -> [DDMBackup.RelatedNode] {
        var nodes: [DDMBackup.RelatedNode] = []
        for schema in try await store.schemas(projectID: instance.projectID, instanceID: instance.id) {
            for part in schema.parts where !nodes.contains(where: { $0.id == part.nodeID }) {
                let node = try await store.dataNode(projectID: instance.projectID, id: part.nodeID)
                nodes.append(DDMBackup.RelatedNode(id: part.nodeID, name: node?.name ?? ""))
            }
        }
        return nodes
    }

    /// Seed 000: exactly `id`, `name`, `instance_id`, `instance_name`, `related_data_nodes`.
    @Sendable func show(_ request: APIRequest) async throws -> Response {
        let instance = try await DDMLookup.instance(request, store: self.store)
        let id = try DDMLookup.backupID(request)
        guard let backup = try await self.store.backup(projectID: instance.projectID, id: id), backup.instanceID == instance.id,
            backup.status != .deleted
        else { throw DDMError.backupNotFound }
        return try JSONCoding.response(BackupDetailDTO(backup))
    }

    /// `GET /v3/{project_id}/backups/{backup_id}`: the seed's own example URL, served as an alias.
    @Sendable func showAlias(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        let id = try DDMLookup.backupID(request)
        guard let backup = try await self.store.backup(projectID: caller.project.id, id: id), backup.status != .deleted else {
            throw DDMError.backupNotFound
        }
        return try JSONCoding.response(BackupDetailDTO(backup))
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
        let page = try await self.store.backups(
            DDMBackupQuery(
                projectID: caller.project.id, instanceID: request.query["instance_id"], instanceName: request.query["instance_name"],
                backupName: request.query["backup_name"], status: status, offset: offset, limit: limit))
        var items: [BackupInfoDTO] = []
        for backup in page.items {
            let instance = try await self.store.instance(projectID: caller.project.id, id: backup.instanceID)
            let running = try await self.jobs.activeJob(projectID: caller.project.id, resourceID: backup.instanceID) != nil
            items.append(BackupInfoDTO(backup: backup, instanceStatus: instance == nil ? "deleted" : (running ? "BACKUP" : "normal")))
        }
        return try JSONCoding.response(BackupPageDTO(total: page.total, offset: offset, limit: limit, backups: items))
    }

    /// `DELETE /v3/{project_id}/backups/{backup_id}` → 202 `{job_id}`; 409 while the backup is still being made.
    @Sendable func delete(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        let id = try DDMLookup.backupID(request)
        guard let backup = try await self.store.backup(projectID: caller.project.id, id: id), backup.status != .deleted else {
            throw DDMError.backupNotFound
        }
        guard backup.status != .creating else { throw DDMError.busy }
        if let active = try await self.jobs.activeJob(projectID: caller.project.id, resourceID: backup.id) {
            return try JSONCoding.response(["job_id": active.id], status: .accepted)
        }
        let job = Job.new(
            kind: DDMBackupDeleteJob.kind, projectID: caller.project.id, resourceID: backup.id,
            payload: DDMJobPayload(backupID: backup.id, instanceID: backup.instanceID, instanceName: backup.instanceName).json,
            maxAttempts: 3, now: self.clock())
        try await self.jobs.enqueue(job)
        return try JSONCoding.response(["job_id": job.id], status: .accepted)
    }

    /// `GET …/backups/related-dn?restore_time=<epoch ms>`: the data nodes of the newest usable backup taken at
    /// or before that time (reference 3.5a).
    @Sendable func relatedDataNodes(_ request: APIRequest) async throws -> Response {
        let instance = try await DDMLookup.instance(request, store: self.store)
        guard let text = request.query["restore_time"], let at = WireTime.parseEpochMilliseconds(text) else {
            throw DDMError.invalidParameter("restore_time", "Expected epoch milliseconds.")
        }
        let offset = try request.intQuery("offset", in: 0...Int(Int32.max), default: 0)
        let limit = try request.intQuery("limit", in: 1...128, default: 10)
        let page = try await self.store.backups(
            DDMBackupQuery(projectID: instance.projectID, instanceID: instance.id, createdBefore: at, status: .normal, offset: 0, limit: 1))
        let latest = try await self.store.backups(
            DDMBackupQuery(projectID: instance.projectID, instanceID: instance.id, status: .normal, offset: 0, limit: 1))
        var nodes: [JSONValue] = []
        if let backup = page.items.first {
            for related in backup.relatedNodes {
                let node = try await self.store.dataNode(projectID: instance.projectID, id: related.id)
                let file = backup.files.first { $0.nodeID == related.id }
                nodes.append(
                    .object([
                        "instance_id": .string(related.id), "instance_name": .string(related.name),
                        "instance_status": .string(node == nil ? "abnormal" : "normal"),
                        "data_volume_size": .number(Double(file?.size ?? 0)), "version": .string(node?.engineVersion ?? ""),
                        "engine_name": .string(node?.engineName ?? ""),
                    ]))
            }
        }
        let window = Array(nodes.dropFirst(offset).prefix(limit))
        var body: [String: JSONValue] = [
            "related_data_nodes": .array(window), "offset": .number(Double(offset)), "limit": .number(Double(limit)),
            "total": .number(Double(nodes.count)),
        ]
        if let newest = latest.items.first { body["latest_restorable_time"] = .string(WireTime.ddm(newest.createdAt)) }
        return try JSONCoding.response(body)
    }
}
