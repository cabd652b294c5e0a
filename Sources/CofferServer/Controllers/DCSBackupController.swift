import CofferCore
import CofferOperations
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// DCS v2 backups (reference 2.2–2.5, seed 003): create, list, delete, download links.
struct DCSBackupController: Sendable {
    let operations: DCSBackupOperations
    let links: DownloadLinks
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
        let caller = try request.caller
        let body = try request.jsonObject()
        let remark = try body?.string("remark")
        if let remark, remark.count > 128 { throw DCSError.remarkTooLong }
        let name = try body?.string("backup_format") ?? "rdb"
        guard let format = DCSBackupRecord.Format(rawValue: name) else {
            throw DCSError.invalidParameter("backup_format", "Expected rdb or aof.")
        }
        let record = try await self.operations.create(
            projectID: caller.project.id, instanceID: request.path("instance_id"), remark: remark, format: format, logger: request.logger)
        return try JSONCoding.response(BackupCreatedDTO(backupID: record.id))
    }

    // MARK: - List (seed 003)

    /// `GET …/backups`: newest first; `total_num` counts every match, not the page.
    @Sendable func list(_ request: APIRequest) async throws -> Response {
        let window = try request.dcsRecordWindow()
        let caller = try request.caller
        let page = try await self.operations.list(
            projectID: caller.project.id, instanceID: request.path("instance_id"), begin: window.begin, end: window.end,
            offset: window.offset, limit: window.limit)
        return JSONCoding.response(BackupRecordListDTO(totalNum: page.total, records: page.items.map(BackupRecordDTO.init)).json)
    }

    // MARK: - Delete

    /// `DELETE …/backups/{backup_id}` → 204: the file goes, the record stays as `deleted`.
    @Sendable func delete(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        try await self.operations.delete(
            projectID: caller.project.id, instanceID: request.path("instance_id"), backupID: request.path("backup_id"), logger: request.logger)
        return JSONCoding.noContent()
    }

    // MARK: - Links and download

    /// `POST …/backups/{backup_id}/links` `{"expiration": 300…86400}` → a presigned URL on Coffer itself.
    @Sendable func createLinks(_ request: APIRequest) async throws -> Response {
        guard let body = try request.jsonObject() else { throw DCSError.emptyBody }
        guard let expiration = try body.int("expiration"), (300...86400).contains(expiration) else {
            throw DCSError.invalidParameter("expiration", "Expected an integer number of seconds from 300 to 86400.")
        }
        let caller = try request.caller
        let (record, instance) = try await self.operations.downloadable(
            projectID: caller.project.id, instanceID: request.path("instance_id"), backupID: request.path("backup_id"))
        let expires = Int64(self.clock().timeIntervalSince1970) + Int64(expiration)
        // A cluster backup: one link per shard, in slot order (a master/standby backup keeps the one file's link).
        let fileNames =
            record.blobKey == nil
            ? (record.shards ?? []).map { $0.fileName(createdAt: record.createdAt) } : [DownloadLinks.fileName(record: record, instance: instance)]
        let items = fileNames.map { LinksDTO.Item(fileName: $0, link: self.links.url(baseURL: request.baseURL, record: record, fileName: $0, expires: expires)) }
        return try JSONCoding.response(
            LinksDTO(filePath: "\(record.instanceID)/\(record.id)/", bucketName: "coffer-dcs-\(record.projectID)", links: items))
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
            let reader = try await self.operations.openFile(
                projectID: projectID, instanceID: instanceID, backupID: backupID, fileName: request.path("file_name"))
        else { throw DCSError.downloadDenied }
        return try FileResponse.make(reader: reader, rangeHeader: request.headers[.range], fileName: request.path("file_name"))
    }

    private struct BackupCreatedDTO: Encodable {
        var backupID: String
        enum CodingKeys: String, CodingKey { case backupID = "backup_id" }
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
