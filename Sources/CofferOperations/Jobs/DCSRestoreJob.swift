import CofferCore
import CofferJobs
import Foundation
import Logging
import Synchronization

/// `dcs.restore`: puts a backup back into the target instance's Redis through the restore engine, and keeps the
/// restore record's status (`waiting` → `restoring` → `succeed` | `failed`), progress and the engine's checkpoint.
///
/// Idempotent, because a crash must not leave the target half-written: the job is retried after a restart, and a
/// run that finds its record already `restoring` with a checkpoint does not restore again but hands the checkpoint
/// to the engine's `recover` (rolled back → `failed`, completed → `succeed`). A record still `restoring` without a
/// checkpoint never had its target touched, so the restore simply starts again. Whatever happens the record ends
/// `succeed` or `failed`: the last resort is `jobFailed`, which recovers and marks it failed.
package struct DCSRestoreJob: JobHandler {
    /// The job's input: which record to carry out.
    struct Payload: Codable {
        var restoreID: String
        enum CodingKeys: String, CodingKey { case restoreID = "restore_id" }
    }

    /// Attempts before the job is failed: the first run, then the runs after a crash or shutdown that recover.
    static let maxAttempts = 3

    let store: any DCSStore
    let engine: any RedisRestoring
    let logger: Logger
    let clock: @Sendable () -> Date
    /// How often progress is written at most.
    let progressInterval: Duration

    package init(
        store: any DCSStore, engine: any RedisRestoring, logger: Logger, clock: @escaping @Sendable () -> Date,
        progressInterval: Duration = .seconds(1)
    ) {
        self.store = store
        self.engine = engine
        self.logger = logger
        self.clock = clock
        self.progressInterval = progressInterval
    }

    package var kind: String { JobKind.dcsRestore.rawValue }
    package var isIdempotent: Bool { true }

    /// The job that carries out `record`; it occupies the target instance.
    static func job(for record: DCSRestoreRecord, now: Date) throws -> Job {
        let payload = String(decoding: try JSONEncoder().encode(Payload(restoreID: record.id)), as: UTF8.self)
        return Job.new(
            kind: JobKind.dcsRestore.rawValue, projectID: record.projectID, resourceID: record.instanceID, payload: payload,
            maxAttempts: Self.maxAttempts, now: now)
    }

    package func run(_ job: Job) async throws {
        let payload = try JSONDecoder().decode(Payload.self, from: Data(job.payload.utf8))
        guard var record = try await self.store.restore(projectID: job.projectID, id: payload.restoreID) else {
            throw DCSError.internalError
        }
        // Finished before the job was: nothing left to do.
        if record.status.isFinal { return }
        if record.status == .restoring, let checkpoint = record.checkpoint {
            guard let request = try await self.request(for: record, toRecover: true) else {
                // The target instance was deleted meanwhile: there is nothing left to put back.
                self.logger.error("DCS restore cannot be recovered: its target is gone", metadata: ["restore.id": "\(record.id)"])
                try await self.finish(&record, failure: .synchronization)
                return
            }
            try await self.recover(&record, request: request, checkpoint: RestoreCheckpoint(json: checkpoint))
            return
        }
        // Still `waiting`, or `restoring` without a checkpoint (the engine had not touched the target): start.
        guard let request = try await self.request(for: record, toRecover: false) else {
            // The backup was deleted (or its target) between the request and now.
            try await self.finish(&record, failure: .storage)
            return
        }
        try await self.restore(&record, request: request)
    }

    package func jobFailed(_ job: Job, reason: String) async {
        // Every attempt was used up (crashes, or a recovery that kept failing): one last recovery, then `failed`.
        guard let payload = try? JSONDecoder().decode(Payload.self, from: Data(job.payload.utf8)),
            var record = try? await self.store.restore(projectID: job.projectID, id: payload.restoreID), !record.status.isFinal
        else { return }
        if let checkpoint = record.checkpoint, let request = try? await self.request(for: record, toRecover: true) {
            do {
                _ = try await self.engine.recover(request, from: RestoreCheckpoint(json: checkpoint))
            } catch {
                self.logger.error("DCS restore recovery failed", metadata: ["restore.id": "\(record.id)", "error": "\(error)"])
            }
        }
        self.logger.error("DCS restore failed", metadata: ["restore.id": "\(record.id)", "reason": "\(reason)"])
        try? await self.finish(&record, failure: .timedOut)
    }

    /// What the engine needs, or nil when the target is gone or, to start a restore, the backup is not restorable.
    ///
    /// A recovery only puts the target back, so it goes ahead even if the backup was deleted meanwhile (its record
    /// stays; the engine does not read the file to roll back).
    private func request(for record: DCSRestoreRecord, toRecover: Bool) async throws -> RedisRestoreRequest? {
        guard
            let backup = try await self.store.backup(projectID: record.projectID, instanceID: record.backupInstanceID, id: record.backupID),
            let target = try await self.store.instance(projectID: record.projectID, id: record.instanceID)
        else { return nil }
        // An AOF backup is restored from its RDB sidecar: the same engine, paths and speed as an RDB backup.
        let snapshotKey = backup.backupFormat == .aof ? DCSBackupFiles.snapshotKey(backup) : backup.blobKey
        if toRecover {
            return RedisRestoreRequest(restoreID: record.id, backup: backup, backupBlobKey: snapshotKey ?? "", target: target)
        }
        guard backup.isRestorable else { return nil }
        // A cluster backup has no file of its own: the engine reads its shards' files.
        return RedisRestoreRequest(restoreID: record.id, backup: backup, backupBlobKey: snapshotKey ?? "", target: target)
    }

    private func restore(_ record: inout DCSRestoreRecord, request: RedisRestoreRequest) async throws {
        let started = self.clock()
        record.status = .restoring
        record.progress = .zero
        record.updatedAt = started
        try await self.store.updateRestore(record)
        let projectID = record.projectID
        let restoreID = record.id
        let latest = LatestFraction()
        do {
            let summary = try await withThrowingTaskGroup(of: RestoreSummary?.self) { group in
                group.addTask {
                    var recorded: DCSRestoreRecord.Progress?
                    while !Task.isCancelled {
                        try? await Task.sleep(for: self.progressInterval)
                        guard let fraction = latest.value.withLock({ $0 }) else { continue }
                        // 100.00 only once it has succeeded.
                        let progress = min(DCSRestoreRecord.Progress(hundredths: 9_999), DCSRestoreRecord.Progress(fraction: fraction))
                        if progress != recorded {
                            try? await self.store.updateRestoreProgress(projectID: projectID, id: restoreID, progress: progress, at: self.clock())
                            recorded = progress
                        }
                    }
                    return nil
                }
                group.addTask {
                    try await self.engine.restore(
                        request,
                        save: { checkpoint in
                            try await self.store.saveRestoreCheckpoint(projectID: projectID, id: restoreID, checkpoint: checkpoint.json, at: self.clock())
                        },
                        progress: { fraction in latest.value.withLock { $0 = fraction } })
                }
                defer { group.cancelAll() }
                while let next = try await group.next() {
                    if let summary = next { return summary }
                }
                throw CancellationError()
            }
            record.status = .succeed
            record.progress = .complete
            record.checkpoint = nil
            record.updatedAt = self.clock()
            try await self.store.updateRestore(record)
            self.logger.info(
                "DCS restore succeeded",
                metadata: [
                    "restore.id": "\(record.id)", "restore.path": "\(summary.path.rawValue)", "restore.keys": "\(summary.keys)",
                    "restore.seconds": "\(record.updatedAt.timeIntervalSince(started))",
                ])
        } catch let error as RedisRestoreError where !Task.isCancelled {
            // The engine has put the target back as it was. (When this job was cancelled, by a shutdown or a lost
            // lease, the engine leaves the target to the checkpoint's recovery instead: the next clause.)
            self.logger.error("DCS restore failed", metadata: ["restore.id": "\(record.id)", "error": "\(error)"])
            try await self.finish(&record, failure: error.code)
        } catch {
            // A shutdown or a lost lease (cancellation), or the store failing: the record stays `restoring` with the
            // last checkpoint, and the next run of this job (retried: it is idempotent) recovers from it.
            self.logger.warning("DCS restore interrupted", metadata: ["restore.id": "\(record.id)", "error": "\(error)"])
            throw error
        }
    }

    private func recover(_ record: inout DCSRestoreRecord, request: RedisRestoreRequest, checkpoint: RestoreCheckpoint) async throws {
        self.logger.notice("DCS restore interrupted earlier: recovering the target", metadata: ["restore.id": "\(record.id)"])
        switch try await self.engine.recover(request, from: checkpoint) {
        case .completed:
            record.status = .succeed
            record.progress = .complete
            record.errorCode = nil
            record.checkpoint = nil
            record.updatedAt = self.clock()
            try await self.store.updateRestore(record)
            self.logger.info("DCS restore had completed before the interruption", metadata: ["restore.id": "\(record.id)"])
        case .rolledBack:
            self.logger.warning("DCS restore rolled back after an interruption", metadata: ["restore.id": "\(record.id)"])
            try await self.finish(&record, failure: .timedOut)
        }
    }

    /// Marks the record `failed` with `failure`; the checkpoint goes (nothing is left to recover).
    private func finish(_ record: inout DCSRestoreRecord, failure: BackupFailure) async throws {
        record.status = .failed
        record.errorCode = failure
        record.checkpoint = nil
        record.updatedAt = self.clock()
        try await self.store.updateRestore(record)
    }
}

/// The newest progress fraction, shared between the engine's callback and the task that records it.
private final class LatestFraction: Sendable {
    let value = Mutex<Double?>(nil)
}
