import CofferCore
import Foundation
import Logging

/// DCS backups: start one (a `dcs.backup` job), list them, delete one (a `dcs.backup.delete` job removes the
/// file), and find the file behind a download link.
package struct DCSBackupOperations: Sendable {
    let store: any DCSStore
    let blobs: any BlobStore
    let instances: DCSInstanceOperations
    let context: OperationContext

    package init(store: any DCSStore, blobs: any BlobStore, instances: DCSInstanceOperations, context: OperationContext) {
        self.store = store
        self.blobs = blobs
        self.instances = instances
        self.context = context
    }

    /// Records a `waiting` manual backup and queues the job that makes it; returns at once.
    /// - Throws: the DCS busy error of whatever already runs on the instance (`DCS.4096`, `DCS.4097`, …).
    package func create(
        projectID: String, instanceID: String, remark: String?, format: DCSBackupRecord.Format = .rdb, logger: Logger
    ) async throws -> DCSBackupRecord {
        let instance = try await self.instances.instance(projectID: projectID, id: instanceID)
        // One AOF file cannot hold a cluster's shards (DCS offers AOF for single and master/standby instances only).
        if format == .aof, instance.topology?.kind == .cluster {
            throw DCSError.invalidParameter("backup_format", "A cluster instance is backed up as rdb, one file per shard.")
        }
        let now = self.context.clock()
        let record = Self.waitingRecord(
            projectID: instance.projectID, instanceID: instance.id, type: .manual, format: format, remark: remark, period: nil, now: now)
        // The unique index on active jobs decides between racing requests; the busy error comes from what it found.
        if case .busy(let occupant) = try await self.store.insertBackup(record, job: try DCSBackupJob.job(for: record, now: now)) {
            throw DCSError.busy(occupant.activity)
        }
        self.context.wakeWorker()
        logger.info(
            "DCS backup requested", metadata: ["backup.id": "\(record.id)", "instance.id": "\(instance.id)", "backup.format": "\(format.rawValue)"])
        return record
    }

    /// A new `waiting` record, named `backup_<yyyyMMddHHmmssSSS>` like Huawei's; manual and automatic backups alike.
    static func waitingRecord(
        projectID: String, instanceID: String, type: DCSBackupRecord.BackupType, format: DCSBackupRecord.Format = .rdb, remark: String?,
        period: String?, now: Date
    ) -> DCSBackupRecord {
        DCSBackupRecord(
            id: Identifiers.uuid(), projectID: projectID, instanceID: instanceID,
            name: "backup_" + WireTime.compact(now) + String(format: "%03d", Int(WireTime.epochMilliseconds(now) % 1000)),
            backupType: type, backupFormat: format, status: .waiting, progress: .zero, size: 0, remark: remark, errorCode: nil,
            period: period, isSupportRestore: false, createdAt: now, updatedAt: now, executionAt: nil, blobKey: nil, sha256: nil)
    }

    /// The instance's backups created in `[begin, end]`, newest first; `total` counts every match.
    package func list(
        projectID: String, instanceID: String, begin: Date?, end: Date?, offset: Int, limit: Int
    ) async throws -> Page<DCSBackupRecord> {
        // The store checks that the instance is live in the same query: a list reads no instance row.
        let id = instanceID.lowercased()
        guard Identifiers.isUUID(id),
            let page = try await self.store.backups(
                DCSBackupQuery(projectID: projectID, instanceID: id, begin: begin, end: end, offset: offset, limit: limit))
        else { throw DCSError.instanceNotFound }
        return page
    }

    /// Marks the backup `deleted` and queues the job that removes its file.
    /// - Throws: 400 `DCS.4031` when it is unknown or already deleted, `DCS.4096` while it is being made.
    package func delete(projectID: String, instanceID: String, backupID: String, logger: Logger) async throws {
        let instance = try await self.instances.instance(projectID: projectID, id: instanceID)
        var record = try await self.backup(projectID: projectID, instanceID: instance.id, id: backupID)
        switch record.status {
        case .deleted: throw DCSError.backupGone
        case .waiting, .backuping: throw DCSError.backupRunning
        case .succeed, .failed, .expired: break
        }
        let job = DCSBackupDeleteJob.job(for: record, now: self.context.clock())
        // The job first: once it is stored, the file goes even if the process dies before the record is marked
        // (the job marks it too). A delete already queued for this backup is the same request again.
        if case .busy = try await self.context.jobs.enqueueIfIdle(job) { throw DCSError.backupGone }
        record.status = .deleted
        record.isSupportRestore = false
        record.updatedAt = self.context.clock()
        try await self.store.updateBackup(record)
        self.context.wakeWorker()
        logger.info("DCS backup deleted", metadata: ["backup.id": "\(record.id)", "job.id": "\(job.id)"])
    }

    /// A backup whose file can be downloaded, with its instance (for the file name).
    /// - Throws: `DCS.4031` when unknown or deleted, `DCS.4800` when it has no file (not `succeed`).
    package func downloadable(projectID: String, instanceID: String, backupID: String) async throws -> (DCSBackupRecord, DCSInstance) {
        let instance = try await self.instances.instance(projectID: projectID, id: instanceID)
        let record = try await self.backup(projectID: projectID, instanceID: instance.id, id: backupID)
        guard record.status != .deleted else { throw DCSError.backupGone }
        guard record.status == .succeed, record.blobKey != nil || !(record.shards ?? []).isEmpty else {
            throw DCSError.invalidParameter("backup_id", "The backup has no file to download (status \(record.status.rawValue)).")
        }
        return (record, instance)
    }

    /// Opens the file of a backup named by a verified download link; nil when it is gone. A cluster backup's link
    /// names its shard by the file name (``DCSBackupShard/fileName(createdAt:)``).
    package func openFile(projectID: String, instanceID: String, backupID: String, fileName: String) async throws -> (any BlobReader)? {
        guard let record = try await self.store.backup(projectID: projectID, instanceID: instanceID, id: backupID), record.status == .succeed,
            let key = record.blobKey ?? record.shards?.first(where: { $0.fileName(createdAt: record.createdAt) == fileName })?.blobKey
        else { return nil }
        return try await self.blobs.open(key: key)
    }

    /// The backup of the instance, or 400 `DCS.4031` (Huawei's answer for an unknown backup).
    private func backup(projectID: String, instanceID: String, id: String) async throws -> DCSBackupRecord {
        let id = id.lowercased()
        guard Identifiers.isUUID(id), let record = try await self.store.backup(projectID: projectID, instanceID: instanceID, id: id) else {
            throw DCSError.backupGone
        }
        return record
    }
}
