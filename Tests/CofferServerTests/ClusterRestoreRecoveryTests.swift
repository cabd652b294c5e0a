import CofferCore
import CofferOperations
import CofferRedis
import CofferStorage
import CofferTestSupport
import Foundation
import Logging
import Synchronization
import Testing

/// The restore by slot when Coffer dies mid-write: the job's next run gives the last checkpoint to `recover`, which
/// must put every shard back as it was (and do no harm when run twice), as the single-server engine does.
@Suite("Cluster restore: crash recovery", .serialized, .timeLimit(.minutes(3)))
struct ClusterRestoreRecoveryTests {
    @Test("Coffer dies while writing into a cluster: recovery closes a stalled writer, puts every shard back, twice harmlessly")
    func crashThenRecover() async throws {
        try await RedisCluster.withCluster(replicasPerMaster: 0, password: "crash-pw") { cluster in
            try await cluster.populateMixed(prefix: "backup", count: 3000)
            let directory = try TemporaryDirectory(prefix: "coffer-cluster-crash")
            defer { directory.remove() }
            let blobs = try FileBlobStore(root: directory.path)
            let now = Date()
            // The backup: each master's own snapshot, one file per shard, as a cluster backup stores them.
            var shards: [DCSBackupShard] = []
            for (index, master) in try await cluster.currentMasters().enumerated() {
                let key = "dcs/project-1/instance-1/backup-1.shard-\(index).rdb"
                let writer = try await blobs.makeWriter(key: key)
                let connection = try await master.server.connect()
                let summary = try await connection.pullSnapshot(sink: { try await writer.write($0) })
                let info = try await writer.commit()
                shards.append(
                    DCSBackupShard(
                        index: index, slots: master.slots.map { DCSTopology.SlotRange(start: $0.lowerBound, end: $0.upperBound) },
                        masterHost: "127.0.0.1", masterPort: master.server.port, sourceHost: "127.0.0.1", sourcePort: master.server.port,
                        sourceRole: .master, retried: false, blobKey: key, size: info.size, sha256: info.sha256,
                        keys: summary.keysPerDatabase.values.reduce(0, +)))
            }
            // The cluster moves on after the backup: recovery must give back this state, not the backup's.
            for master in try await cluster.currentMasters() {
                let connection = try await master.server.connect()
                _ = try await connection.commandExpectingSuccess(["FLUSHALL"])
                await connection.close()
            }
            try await cluster.populateMixed(prefix: "current", count: 100)
            let current = try await cluster.snapshot()
            // Read now: once the restore has fenced the masters, `default` (which reads the map) is off.
            let (master, slots) = try #require(try await cluster.currentMasters().first)

            let port = master.port
            let instance = DCSInstance(
                id: "instance-1", projectID: "project-1", name: "cluster", engine: "Redis", requestedEngineVersion: nil, host: "127.0.0.1",
                port: port, accessUser: nil, password: "crash-pw", description: nil, status: "RUNNING", capacityGB: 1, specCode: nil,
                backupPolicy: nil, extra: [:], createdAt: now, updatedAt: now)
            let backup = DCSBackupRecord(
                id: "backup-1", projectID: "project-1", instanceID: instance.id, name: "backup", backupType: .manual, backupFormat: .rdb,
                status: .succeed, progress: .complete, size: shards.map(\.size).reduce(0, +), remark: nil, errorCode: nil, period: nil,
                isSupportRestore: true, createdAt: now, updatedAt: now, executionAt: now, blobKey: nil, sha256: nil, shards: shards)
            let request = RedisRestoreRequest(restoreID: "restore-1", backup: backup, backupBlobKey: "", target: instance)
            let engine = RedisRestoreEngine(
                blobs: blobs, logger: Logger(label: "coffer.test.cluster-crash"), connectTimeout: .seconds(5), replication: nil)
            let checkpoints = Mutex<[RestoreCheckpoint]>([])
            let writing = Mutex(false)
            // The process "dies" once records are flowing: the progress callback stalls, then the task is cancelled.
            let task = Task {
                try await engine.restore(
                    request, save: { checkpoint in checkpoints.withLock { $0.append(checkpoint) } },
                    progress: { fraction in
                        guard fraction > 0, fraction < 1 else { return }
                        writing.withLock { $0 = true }
                        try? await Task.sleep(for: .seconds(60))
                    })
            }
            let deadline = ContinuousClock.now + .seconds(60)
            while !writing.withLock({ $0 }) && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            try #require(writing.withLock { $0 }, "the restore never started writing")
            task.cancel()
            _ = try? await task.value
            let checkpoint = try #require(checkpoints.withLock { $0.last })
            #expect(checkpoint.json.contains(#""phase":"writing""#), "\(checkpoint.json.prefix(200))")
            #expect(checkpoint.json.contains("\"nodes\""))

            // A writer of the cancelled attempt is still connected to a master, as a node that stalled past its lease would
            // be: it writes keys of that master's slots until the recovery closes its connection; none may survive.
            let tag = try #require((0..<100_000).lazy.map { "stray{\($0)}" }.first { key in slots.contains { $0.contains(RedisSlot.slot(of: key)) } })
            let stalledConnection = try await RedisConnection.connect(
                to: master.endpoint(username: "coffer-restore-restore-1", password: "crash-pw"), timeout: .seconds(5), logger: Logger(label: "t"))
            let stalled = StrayWriter(stalledConnection, keyPrefix: tag)
            try await stalled.waitForWrites(20, until: deadline)
            #expect(stalled.writes >= 20, "the stalled writer never wrote")

            let fresh = RedisRestoreEngine(blobs: blobs, logger: Logger(label: "coffer.test.cluster-recovery"), connectTimeout: .seconds(5), replication: nil)
            for round in 1...2 {
                #expect(try await fresh.recover(request, from: checkpoint) == .rolledBack, "round \(round)")
                await stalled.stopped()
                DCSClusterRestoreTests.expectSame(try await cluster.snapshot(), current)
                for master in try await cluster.currentMasters() {
                    let connection = try await master.server.connect()
                    let users = try await connection.command(["ACL", "LIST"]).array?.compactMap(\.string) ?? []
                    await connection.close()
                    #expect(!users.contains { $0.contains("coffer-restore") }, "round \(round): the temporary user is gone")
                    #expect(users.contains { $0.hasPrefix("user default on") }, "round \(round): default is on again")
                }
                let left = try FileManager.default.subpathsOfDirectory(atPath: directory.path).filter { $0.contains("dcs-restore") && $0.hasSuffix(".rdb") }
                #expect(left.isEmpty, "round \(round): safety snapshots left: \(left)")
            }
            await stalledConnection.close()
        }
    }
}
