import CofferCore
import CofferStorage
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// DCS v2 backups (reference 2.2–2.5, seed 003): create, list, delete, download links.
struct DCSBackupController: Sendable {
    let store: any DCSStore
    let blobs: any BlobStore
    let instances: DCSInstanceController
    let tasks: InstanceTasks
    let links: DownloadLinks
    /// Starts the job worker's idle loops (the backup starts now, not at the next poll).
    let wakeWorker: @Sendable () -> Void
    let clock: @Sendable () -> Date

    var routes: [Route] {
        [
            Route(.post, "/v2/{project_id}/instances/{instance_id}/backups", handler: self.create),
            Route(.get, "/v2/{project_id}/instances/{instance_id}/backups", handler: self.list),
            Route(.delete, "/v2/{project_id}/instances/{instance_id}/backups/{backup_id}", handler: self.delete),
            Route(.post, "/v2/{project_id}/instances/{instance_id}/backups/{backup_id}/links", handler: self.createLinks),
            Route(.get, DownloadLinks.routeTemplate, access: .open, handler: self.download),
        ]
    }

    // MARK: - Create ("CopyInstance")

    /// `POST …/backups` → 200 `{"backup_id"}` at once; the snapshot runs as a `dcs.backup` job.
    @Sendable func create(_ request: APIRequest) async throws -> Response {
        let instance = try await self.instances.instance(request)
        let body = try request.jsonObject()
        let remark = try body?.string("remark")
        if let remark, remark.count > 128 { throw DCSError.remarkTooLong }
        let format = try body?.string("backup_format") ?? "rdb"
        guard format == "rdb" else {
            throw DCSError.invalidParameter(
                "backup_format", format == "aof" ? "Coffer takes RDB snapshots; AOF backups are not supported yet." : "Expected rdb or aof.")
        }
        if let busy = try await self.busyError(instance) { throw busy }
        let now = self.clock()
        let record = DCSBackupRecord(
            id: Identifiers.uuid(), projectID: instance.projectID, instanceID: instance.id,
            name: "backup_" + WireTime.compact(now) + String(format: "%03d", Int(WireTime.epochMilliseconds(now) % 1000)),
            backupType: .manual, backupFormat: .rdb, status: .waiting, progress: .zero, size: 0, remark: remark, errorCode: nil,
            period: nil, isSupportRestore: false, createdAt: now, updatedAt: now, executionAt: nil, blobKey: nil, sha256: nil)
        guard try await self.store.insertBackup(record, job: try DCSBackupJob.job(for: record, now: now)) else {
            // Lost a race with another request: the database let only one task in.
            throw try await self.busyError(instance) ?? DCSError.backupRunning
        }
        self.wakeWorker()
        request.logger.info("DCS backup requested", metadata: ["backup.id": "\(record.id)", "instance.id": "\(instance.id)"])
        return try JSONCoding.response(["backup_id": record.id])
    }

    private func busyError(_ instance: DCSInstance) async throws -> CofferError? {
        switch try await self.tasks.task(of: instance) {
        case nil: nil
        case "RESTORING": DCSError.restoreRunning
        default: DCSError.backupRunning
        }
    }

    // MARK: - List (seed 003)

    /// `GET …/backups`: newest first; `total_num` counts every match, not the page.
    @Sendable func list(_ request: APIRequest) async throws -> Response {
        let offset = try request.intQuery("offset", in: 0...Int(Int32.max), default: 0)
        let limit = try request.intQuery("limit", in: 1...1000, default: 10)
        // `beginTime`/`endTime` are the v1 names the seed's example URL still uses.
        let begin = try request.compactTimeQuery("begin_time", "beginTime")
        let end = try request.compactTimeQuery("end_time", "endTime")
        if let begin, let end, begin > end {
            throw CofferError(status: 400, code: "DCS.4025", message: "The end time must be after the start time.")
        }
        let instance = try await self.instances.instance(request)
        // end_time names a whole second: include everything up to its last millisecond.
        let page = try await self.store.backups(
            DCSBackupQuery(
                projectID: instance.projectID, instanceID: instance.id, begin: begin, end: end.map { $0.addingTimeInterval(0.999) },
                offset: offset, limit: limit))
        return try JSONCoding.response(BackupRecordListDTO(totalNum: page.total, records: page.items.map(BackupRecordDTO.init)))
    }

    // MARK: - Delete

    /// `DELETE …/backups/{backup_id}` → 204: the file goes, the record stays as `deleted`.
    @Sendable func delete(_ request: APIRequest) async throws -> Response {
        var record = try await self.backup(request)
        switch record.status {
        case .deleted: throw DCSError.backupGone
        case .waiting, .backuping: throw DCSError.backupRunning
        case .succeed, .failed, .expired: break
        }
        let blobKey = record.blobKey
        record.status = .deleted
        record.isSupportRestore = false
        record.updatedAt = self.clock()
        // The record first: a crash in between leaves an unreferenced file, never a record pointing at nothing.
        try await self.store.updateBackup(record)
        if let blobKey {
            do {
                try self.blobs.delete(key: blobKey)
            } catch {
                request.logger.error("Deleting a backup file failed", metadata: ["backup.id": "\(record.id)", "error": "\(error)"])
            }
        }
        request.logger.info("DCS backup deleted", metadata: ["backup.id": "\(record.id)"])
        return JSONCoding.noContent()
    }

    // MARK: - Links and download

    /// `POST …/backups/{backup_id}/links` `{"expiration": 300…86400}` → a presigned URL on Coffer itself.
    @Sendable func createLinks(_ request: APIRequest) async throws -> Response {
        guard let body = try request.jsonObject() else { throw DCSError.emptyBody }
        guard let expiration = try body.int("expiration"), (300...86400).contains(expiration) else {
            throw DCSError.invalidParameter("expiration", "Expected an integer number of seconds from 300 to 86400.")
        }
        let record = try await self.backup(request)
        guard record.status != .deleted else { throw DCSError.backupGone }
        guard record.status == .succeed, record.blobKey != nil else {
            throw DCSError.invalidParameter("backup_id", "The backup has no file to download (status \(record.status.rawValue)).")
        }
        let instance = try await self.instances.instance(request)
        let fileName = DownloadLinks.fileName(record: record, instance: instance)
        let expires = Int64(self.clock().timeIntervalSince1970) + Int64(expiration)
        let link = self.links.url(baseURL: request.baseURL, record: record, fileName: fileName, expires: expires)
        return try JSONCoding.response(
            LinksDTO(filePath: "\(record.instanceID)/\(record.id)/", bucketName: "coffer-dcs-\(record.projectID)", links: [.init(fileName: fileName, link: link)]))
    }

    /// `GET /downloads/dcs/…?Expires=&Signature=`: streams the file (with `Range`), or 403.
    @Sendable func download(_ request: APIRequest) async throws -> Response {
        let projectID = request.path("project_id")
        let instanceID = request.path("instance_id")
        let backupID = request.path("backup_id")
        guard let expires = request.query["Expires"].flatMap(Int64.init), let signature = request.query["Signature"],
            self.links.verify(
                projectID: projectID, instanceID: instanceID, backupID: backupID, fileName: request.path("file_name"), expires: expires,
                signature: signature),
            expires >= Int64(self.clock().timeIntervalSince1970),
            let record = try await self.store.backup(projectID: projectID, instanceID: instanceID, id: backupID), record.status == .succeed,
            let key = record.blobKey, let reader = try self.blobs.open(key: key)
        else { throw DCSError.downloadDenied }
        return try FileResponse.make(reader: reader, rangeHeader: request.headers[.range], fileName: request.path("file_name"))
    }

    /// The path's backup of the path's instance, in the caller's project; 400 `DCS.4031` when absent.
    private func backup(_ request: APIRequest) async throws -> DCSBackupRecord {
        let instance = try await self.instances.instance(request)
        let id = request.path("backup_id").lowercased()
        guard Identifiers.isUUID(id), let record = try await self.store.backup(projectID: instance.projectID, instanceID: instance.id, id: id)
        else { throw DCSError.backupGone }
        return record
    }

    private struct LinksDTO: Encodable {
        struct Item: Encodable {
            var fileName: String
            var link: String
            enum CodingKeys: String, CodingKey {
                case fileName = "file_name"
                case link
            }
        }
        var filePath: String
        var bucketName: String
        var links: [Item]
        enum CodingKeys: String, CodingKey {
            case filePath = "file_path"
            case bucketName = "bucket_name"
            case links
        }
    }
}
