import CofferCore
import CofferJobs
import CofferRedis
import Foundation
import Logging
import NIOCore
import Synchronization

/// `dcs.backup`: pulls a point-in-time RDB snapshot of the adopted Redis over the replication
/// protocol, straight into the blob store, and keeps the backup record's status and progress.
/// An AOF backup keeps that snapshot as its sidecar and writes the AOF file from the same chunks while they
/// stream (a bounded tee, `DCSBackupJob+AOF.swift`, ``DCSBackupFiles``); neither file is committed unless both are whole.
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
        // Only a waiting record starts: one the recovery of an expired lease failed meanwhile stays failed.
        guard try await self.store.updateBackup(record, ifStatusIn: [.waiting]) else { throw Superseded() }
        // The deployment now, not as adopted: a failover or a resharding since then moves where each shard's data is.
        let topology: DCSTopology
        do {
            topology = try await RedisInspector(timeout: self.connectTimeout, logger: self.logger).topology(of: instance, now: started)
            try await self.store.updateInstanceTopology(projectID: instance.projectID, id: instance.id, topology: topology)
        } catch {
            self.logger.error("DCS backup failed: the topology cannot be read", metadata: ["backup.id": "\(record.id)", "error": "\(error)"])
            _ = try? await self.fail(&record, .redis)
            throw error
        }
        if let reason = topology.unreachableReason {
            self.logger.error("DCS backup failed", metadata: ["backup.id": "\(record.id)", "error": "\(reason)"])
            _ = try? await self.fail(&record, .redis)
            throw DCSError.redisUnreachable(instance.address, reason)
        }
        if topology.kind == .cluster {
            try await self.runSharded(record: record, instance: instance, topology: topology, started: started)
        } else {
            try await self.runOneShard(record: record, instance: instance, topology: topology, started: started)
        }
    }

    /// A single server, or a master/standby pair (from a healthy standby when there is one, from the master if the
    /// standby fails or there is none): one file, the record's `blobKey`, as before topologies.
    private func runOneShard(record: DCSBackupRecord, instance: DCSInstance, topology: DCSTopology, started: Date) async throws {
        var record = record
        guard let shard = topology.shards.first else { throw DCSError.internalError }
        let sources = shard.snapshotSources
        var lastError: (any Error)?
        for (attempt, source) in sources.enumerated() {
            let endpoint = RedisEndpoint(host: source.host, port: source.port, username: instance.accessUser, password: instance.password)
            do {
                let (blob, summary, tee) = try await self.snapshot(record: record, endpoint: endpoint)
                record.status = .succeed
                record.progress = .complete
                record.size = blob.size
                record.sha256 = blob.sha256
                record.blobKey = blob.key
                record.isSupportRestore = true
                record.updatedAt = self.clock()
                if topology.kind == .masterStandby, let master = shard.master {
                    record.shards = [
                        DCSBackupShard(
                            index: 0, slots: [], masterHost: master.host, masterPort: master.port, sourceHost: source.host,
                            sourcePort: source.port, sourceRole: source.role, retried: attempt > 0, blobKey: DCSBackupFiles.snapshotKey(record),
                            size: record.backupFormat == .rdb ? blob.size : summary.bytes, sha256: record.backupFormat == .rdb ? blob.sha256 : "",
                            keys: summary.keys)
                    ]
                }
                try await self.publish(record)
                var metadata: Logger.Metadata = [
                    "backup.id": "\(record.id)", "backup.format": "\(record.backupFormat.rawValue)", "backup.bytes": "\(blob.size)",
                    "backup.keys": "\(summary.keys)", "backup.diskless": "\(summary.diskless)", "backup.source": "\(source.address)",
                    "backup.source_role": "\(source.role.rawValue)", "backup.seconds": "\(record.updatedAt.timeIntervalSince(started))",
                ]
                if let tee {
                    metadata["backup.rdb_bytes"] = "\(summary.bytes)"
                    metadata["backup.tee_peak_bytes"] = "\(tee.peakQueuedBytes)"
                    let waited = tee.pullWaited.components
                    metadata["backup.pull_waited_seconds"] = "\(Double(waited.seconds) + Double(waited.attoseconds) / 1e18)"
                }
                self.logger.info("DCS backup succeeded", metadata: metadata)
                return
            } catch let error as RedisError where attempt + 1 < sources.count {
                // The standby went away mid-pull: its writers are aborted; take the snapshot again from the next source.
                self.logger.warning(
                    "DCS backup source failed, trying the next",
                    metadata: ["backup.id": "\(record.id)", "backup.source": "\(source.address)", "error": "\(error)"])
                lastError = error
            } catch {
                lastError = error
                break
            }
        }
        let error = lastError ?? DCSError.internalError
        let cause: BackupFailure =
            switch error {
            case RedisError.timedOut, is CancellationError: .timedOut
            case is RedisError: .redis
            default: .storage
            }
        self.logger.error("DCS backup failed", metadata: ["backup.id": "\(record.id)", "error": "\(error)"])
        await self.failAndRemoveFiles(&record, cause)
        throw error
    }

    /// One snapshot of `endpoint` into the backup's file(s), committed only when whole; on any failure every writer
    /// is aborted and nothing remains.
    private func snapshot(record: DCSBackupRecord, endpoint: RedisEndpoint) async throws -> (BlobInfo, SnapshotSummary, AOFTeeSummary?) {
        let isAOF = record.backupFormat == .aof
        let writer = try await self.blobs.makeWriter(key: DCSBackupFiles.snapshotKey(record))
        var aofWriter: (any BlobWriter)?
        if isAOF {
            do {
                aofWriter = try await self.blobs.makeWriter(key: DCSBackupFiles.key(record))
            } catch {
                await writer.abort()
                throw error
            }
        }
        do {
            let progress = BackupProgress(tracksAOF: isAOF)
            let summary: SnapshotSummary
            var tee: AOFTeeSummary?
            if let aofWriter {
                (summary, tee) = try await self.pullWithAOF(endpoint: endpoint, record: record, snapshot: writer, aof: aofWriter, progress: progress)
            } else {
                summary = try await self.pull(endpoint: endpoint, record: record, progress: progress, sink: { try await writer.write($0) })
            }
            // Both streams are whole (the pull checked the RDB's end and CRC, the AOF side every record and the CRC
            // again): only now does either file become visible. The two fsyncs overlap; a failure of either commit
            // (or a crash between them) removes both below (or in `jobFailed`).
            if let aofWriter {
                async let snapshotBlob = writer.commit()
                async let aofBlob = aofWriter.commit()
                let (_, committed) = try await (snapshotBlob, aofBlob)
                return (committed, summary, tee)
            }
            return (try await writer.commit(), summary, tee)
        } catch {
            // Nothing committed yet, unless a commit failed after the other succeeded: abort both, remove whatever
            // became visible (no record says `succeed` before this returns, so nothing refers to it).
            await writer.abort()
            await aofWriter?.abort()
            await self.removeFiles(record)
            throw error
        }
    }

    package func jobFailed(_ job: Job, reason: String) async {
        // Crash recovery and shutdown land here; a backup that failed in `run` is already marked.
        guard let payload = try? JSONDecoder().decode(Payload.self, from: Data(job.payload.utf8)),
            var record = try? await self.store.backup(projectID: job.projectID, instanceID: job.resourceID, id: payload.backupID),
            record.status == .waiting || record.status == .backuping
        else { return }
        // A crash after a commit and before the record said `succeed`, between an AOF backup's two commits, or between a
        // cluster backup's shard commits leaves files no record points at: nothing may outlive the failure. A record
        // that failed lists no shard file: every index a cluster backup could have used (the instance may have been
        // resharded since), none for other instances.
        //
        // The record is failed first, and only if it still ran: a job whose lease expired may be alive (a stalled node)
        // and commit meanwhile; its own `succeed` is a compare-and-set too, so exactly one side decides, and a job that
        // loses removes what it committed itself (`publish`).
        let kind = (try? await self.store.instance(projectID: job.projectID, id: job.resourceID))?.topology?.kind
        guard (try? await self.fail(&record, .timedOut)) == true else { return }
        await self.removeFiles(record, shardCount: kind == .cluster || kind == nil ? DCSBackupFiles.maximumShards : 0)
    }

    /// The recovery of this job's expired lease failed the backup while the job still ran (a node stalled past its
    /// lease): that outcome stands, and whatever this run committed is removed.
    struct Superseded: Error, CustomStringConvertible {
        var description: String { "the backup was failed by the recovery of this job's expired lease" }
    }

    /// Marks the backup `succeed` with its files, only if it is still `backuping`.
    /// - Throws: ``Superseded`` (after removing the files) when recovery failed it meanwhile.
    func publish(_ record: DCSBackupRecord, shardCount: Int = 0) async throws {
        guard try await self.store.updateBackup(record, ifStatusIn: [.backuping]) else {
            await self.removeFiles(record, shardCount: shardCount)
            throw Superseded()
        }
    }

    /// Marks the backup `failed` if it still runs. - Returns: whether this call failed it.
    @discardableResult
    func fail(_ record: inout DCSBackupRecord, _ cause: BackupFailure) async throws -> Bool {
        record.status = .failed
        record.errorCode = cause.rawValue
        record.isSupportRestore = false
        record.updatedAt = self.clock()
        return try await self.store.updateBackup(record, ifStatusIn: [.waiting, .backuping])
    }

    /// Ends a failed run: the record says `failed`, then the files this run may have committed go, unless the record
    /// says `succeed` (a write whose answer was lost, the database going away after it committed). When the record
    /// cannot be read or written, the files stay: an object without a record is a leftover, a `succeed` record without
    /// its object is a lost backup.
    func failAndRemoveFiles(_ record: inout DCSBackupRecord, _ cause: BackupFailure, shardCount: Int = 0) async {
        do {
            if try await !self.fail(&record, cause) {
                let stored = try await self.store.backup(projectID: record.projectID, instanceID: record.instanceID, id: record.id)
                guard stored?.status != .succeed else { return }
            }
            await self.removeFiles(record, shardCount: shardCount)
        } catch {
            self.logger.error(
                "A failed DCS backup's files are kept: its record cannot be read or written",
                metadata: ["backup.id": "\(record.id)", "error": "\(error)"])
        }
    }

    /// Removes every file the backup may have written; errors only logged (the blob sweep cannot find committed ones).
    /// Also shard files `0..<shardCount`, which a failed record does not list.
    func removeFiles(_ record: DCSBackupRecord, shardCount: Int = 0) async {
        let shardKeys = (0..<shardCount).map { DCSBackupFiles.shardKey(record, index: $0) }
        for key in DCSBackupFiles.allKeys(record) + shardKeys {
            do { try await self.blobs.delete(key: key) } catch {
                self.logger.error("Removing a failed DCS backup's file failed", metadata: ["blob.key": "\(key)", "error": "\(error)"])
            }
        }
    }

    /// Streams the snapshot into `sink`, recording the backup's progress (``BackupProgress``) about once a second.
    func pull(
        endpoint: RedisEndpoint, record: DCSBackupRecord, progress: BackupProgress, sink: @escaping @Sendable (ByteBuffer) async throws -> Void
    ) async throws -> SnapshotSummary {
        let connection = try await RedisConnection.connect(to: endpoint, timeout: self.connectTimeout, logger: self.logger)
        // Key counts now, for progress of the diskless form until RESIZEDB gives the snapshot's own.
        let keyspace = (try? await connection.info("keyspace"))?.dbKeyCounts?.mapValues(\.keys) ?? [:]
        return try await withThrowingTaskGroup(of: SnapshotSummary?.self) { group in
            group.addTask {
                var recorded = DCSBackupRecord.Progress.zero
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    guard let fraction = progress.fraction else { continue }
                    let next = min(DCSBackupRecord.Progress(hundredths: 9_999), DCSBackupRecord.Progress(fraction: fraction))
                    // Monotonic: the estimate may dip (a key-count estimate replaced by RESIZEDB's), the record never does.
                    if next.hundredths > recorded.hundredths {
                        try? await self.store.updateBackupProgress(projectID: record.projectID, id: record.id, progress: next, at: self.clock())
                        recorded = next
                    }
                }
                return nil
            }
            group.addTask {
                try await connection.pullSnapshot(
                    idleTimeout: self.idleTimeout, expectedKeys: keyspace, sink: sink, progress: { progress.pulled($0) })
            }
            defer { group.cancelAll() }
            while let next = try await group.next() {
                if let summary = next { return summary }
            }
            throw CancellationError()
        }
    }
}

/// How far a backup got, shared between the pull, the AOF side and the task that records it.
///
/// An RDB backup is as far as its pull. An AOF backup is done when its AOF is, so its progress is the AOF side's
/// position in the snapshot: the pull's fraction scaled by the share of the pulled bytes the AOF side has turned
/// into commands (the two differ by at most the tee's bound, so the figure is honest while both run).
final class BackupProgress: Sendable {
    private struct State {
        var pull: SnapshotProgress?
        var aofBytes: Int64 = 0
    }

    let tracksAOF: Bool
    private let state = Mutex(State())

    init(tracksAOF: Bool) { self.tracksAOF = tracksAOF }

    func pulled(_ report: SnapshotProgress) { self.state.withLock { $0.pull = report } }

    /// Bytes of the RDB the AOF side has read and written commands for.
    func convertedToAOF(_ bytes: Int64) { self.state.withLock { $0.aofBytes = bytes } }

    /// A fraction in 0…1, or nil before the pull can tell one.
    var fraction: Double? {
        self.state.withLock { state in
            guard let report = state.pull, let pulled = report.fraction else { return nil }
            guard self.tracksAOF else { return pulled }
            guard report.bytes > 0 else { return 0 }
            return pulled * min(1, Double(state.aofBytes) / Double(report.bytes))
        }
    }
}
