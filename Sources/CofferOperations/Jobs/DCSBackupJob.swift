import CofferCore
import CofferJobs
import CofferRedis
import Foundation
import Logging
import Synchronization

/// `dcs.backup`: pulls a point-in-time RDB snapshot of the adopted Redis over the replication
/// protocol, straight into the blob store, and keeps the backup record's status and progress.
/// An AOF backup keeps that snapshot as its sidecar and then writes the AOF file from it
/// (`DCSBackupJob+AOF.swift`, ``DCSBackupFiles``).
///
/// Not idempotent: a snapshot taken later than requested is another backup, so an interrupted
/// backup ends `failed` (never retried, never left `backuping`).
package struct DCSBackupJob: JobHandler {

    /// The job's input: which record to fill.
    struct Payload: Codable {
        var backupID: String
        enum CodingKeys: String, CodingKey { case backupID = "backup_id" }
    }

    let store: any DCSStore
    let blobs: any BlobStore
    let logger: Logger
    let clock: @Sendable () -> Date
    /// Longest silence from the master before the backup fails (it sends `\n` every second while preparing).
    let idleTimeout: Duration
    let connectTimeout: Duration

    package init(
        store: any DCSStore, blobs: any BlobStore, logger: Logger, clock: @escaping @Sendable () -> Date,
        idleTimeout: Duration = .seconds(60), connectTimeout: Duration = .seconds(10)
    ) {
        self.store = store
        self.blobs = blobs
        self.logger = logger
        self.clock = clock
        self.idleTimeout = idleTimeout
        self.connectTimeout = connectTimeout
    }

    package var kind: String { JobKind.dcsBackup.rawValue }
    package var isIdempotent: Bool { false }

    /// The job that fills `record`.
    static func job(for record: DCSBackupRecord, now: Date) throws -> Job {
        let payload = String(decoding: try JSONEncoder().encode(Payload(backupID: record.id)), as: UTF8.self)
        return Job.new(kind: JobKind.dcsBackup.rawValue, projectID: record.projectID, resourceID: record.instanceID, payload: payload, now: now)
    }

    package func run(_ job: Job) async throws {
        let payload = try JSONDecoder().decode(Payload.self, from: Data(job.payload.utf8))
        guard var record = try await self.store.backup(projectID: job.projectID, instanceID: job.resourceID, id: payload.backupID) else {
            throw DCSError.internalError
        }
        guard let instance = try await self.store.instance(projectID: job.projectID, id: job.resourceID) else {
            try await self.fail(&record, .redis)
            throw DCSError.instanceNotFound
        }
        let started = self.clock()
        record.status = .backuping
        record.progress = .zero
        record.executionAt = started
        record.updatedAt = started
        try await self.store.updateBackup(record)
        let writer: any BlobWriter
        do {
            writer = try await self.blobs.makeWriter(key: DCSBackupFiles.snapshotKey(record))
        } catch {
            try await self.fail(&record, .storage)
            throw error
        }
        let isAOF = record.backupFormat == .aof
        do {
            // An AOF backup spends the first half of its progress on the snapshot, the second on the AOF file.
            let summary = try await self.pull(instance: instance, record: record, into: writer, progressShare: isAOF ? 0.5 : 1)
            var blob = try await writer.commit()
            if isAOF { blob = try await self.writeAOF(snapshot: blob, record: record) }
            record.status = .succeed
            record.progress = .complete
            record.size = blob.size
            record.sha256 = blob.sha256
            record.blobKey = blob.key
            record.isSupportRestore = true
            record.updatedAt = self.clock()
            try await self.store.updateBackup(record)
            self.logger.info(
                "DCS backup succeeded",
                metadata: [
                    "backup.id": "\(record.id)", "backup.format": "\(record.backupFormat.rawValue)", "backup.bytes": "\(blob.size)",
                    "backup.keys": "\(summary.keys)", "backup.diskless": "\(summary.diskless)",
                    "backup.seconds": "\(record.updatedAt.timeIntervalSince(started))",
                ])
        } catch {
            await writer.abort()
            // An AOF backup may have committed its snapshot before the AOF failed: a failed backup keeps no file.
            if isAOF { await self.removeFiles(record) }
            let cause: BackupFailure =
                switch error {
                case RedisError.timedOut, is CancellationError: .timedOut
                case is RedisError: .redis
                default: .storage
                }
            self.logger.error("DCS backup failed", metadata: ["backup.id": "\(record.id)", "error": "\(error)"])
            try? await self.fail(&record, cause)
            throw error
        }
    }

    package func jobFailed(_ job: Job, reason: String) async {
        // Crash recovery and shutdown land here; a backup that failed in `run` is already marked.
        guard let payload = try? JSONDecoder().decode(Payload.self, from: Data(job.payload.utf8)),
            var record = try? await self.store.backup(projectID: job.projectID, instanceID: job.resourceID, id: payload.backupID),
            record.status == .waiting || record.status == .backuping
        else { return }
        // A crash between an AOF backup's two commits leaves the snapshot sidecar: nothing may outlive the failure.
        if record.backupFormat == .aof { await self.removeFiles(record) }
        try? await self.fail(&record, .timedOut)
    }

    private func fail(_ record: inout DCSBackupRecord, _ cause: BackupFailure) async throws {
        record.status = .failed
        record.errorCode = cause.rawValue
        record.isSupportRestore = false
        record.updatedAt = self.clock()
        try await self.store.updateBackup(record)
    }

    /// Removes every file the backup may have written; errors only logged (the blob sweep cannot find committed ones).
    func removeFiles(_ record: DCSBackupRecord) async {
        for key in DCSBackupFiles.allKeys(record) {
            do { try await self.blobs.delete(key: key) } catch {
                self.logger.error("Removing a failed DCS backup's file failed", metadata: ["blob.key": "\(key)", "error": "\(error)"])
            }
        }
    }

    /// Streams the snapshot into `writer`, recording progress about once a second; the pull's progress fills
    /// `progressShare` of the record's (the rest is the AOF file's, for an AOF backup).
    private func pull(
        instance: DCSInstance, record: DCSBackupRecord, into writer: any BlobWriter, progressShare: Double
    ) async throws -> SnapshotSummary {
        let endpoint = RedisEndpoint(host: instance.host, port: instance.port, username: instance.accessUser, password: instance.password)
        let connection = try await RedisConnection.connect(to: endpoint, timeout: self.connectTimeout, logger: self.logger)
        // Key counts now, for progress of the diskless form until RESIZEDB gives the snapshot's own.
        let keyspace = (try? await connection.info("keyspace"))?.dbKeyCounts?.mapValues(\.keys) ?? [:]
        let latest = LatestProgress()
        return try await withThrowingTaskGroup(of: SnapshotSummary?.self) { group in
            group.addTask {
                var recorded: DCSBackupRecord.Progress?
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    guard let fraction = latest.value.withLock({ $0 })?.fraction else { continue }
                    let progress = min(DCSBackupRecord.Progress(hundredths: 9_999), DCSBackupRecord.Progress(fraction: fraction * progressShare))
                    if progress != recorded {
                        try? await self.store.updateBackupProgress(projectID: record.projectID, id: record.id, progress: progress, at: self.clock())
                        recorded = progress
                    }
                }
                return nil
            }
            group.addTask {
                try await connection.pullSnapshot(
                    idleTimeout: self.idleTimeout, expectedKeys: keyspace, sink: { try await writer.write($0) },
                    progress: { report in latest.value.withLock { $0 = report } })
            }
            defer { group.cancelAll() }
            while let next = try await group.next() {
                if let summary = next { return summary }
            }
            throw CancellationError()
        }
    }
}

/// The newest progress report, shared between the pull and the task that records it.
private final class LatestProgress: Sendable {
    let value = Mutex<SnapshotProgress?>(nil)
}
