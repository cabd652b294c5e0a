import CofferCore
import CofferJobs
import CofferOperations
import CofferRedis
import CofferServer
import CofferStorage
import CofferTestSupport
import Foundation
import HTTPTypes
import Logging
import NIOCore
import Synchronization
import Testing

/// Restores run by the `dcs.restore` job with the real restore engine against real `redis-server`s: into the
/// backup's own instance, into another one (a migration task), and after a crash mid-restore.
@Suite("DCS restores of real Redis servers", .timeLimit(.minutes(3)))
struct DCSRestoreTests {
    static func expectSame(_ actual: [Int: [String: RedisDataset.KeyState]], _ expected: [Int: [String: RedisDataset.KeyState]]) {
        #expect(actual.keys.sorted() == expected.keys.sorted())
        for (database, keys) in expected {
            let restored = actual[database] ?? [:]
            #expect(restored.keys.sorted() == keys.keys.sorted(), "db \(database)")
            for (name, state) in keys {
                let copy = restored[name]
                #expect(copy?.type == state.type && copy?.value == state.value, "\(name)")
                if state.pttl < 0 { #expect(copy?.pttl == state.pttl, "\(name)") } else {
                    // The same deadline: the TTL only went down by the time that passed, which the suite's 3-minute
                    // limit bounds (a loaded CI machine takes over a minute here). Exact deadlines (±1 s) are checked
                    // by the engine's own tests through PEXPIRETIME.
                    #expect(copy.map { $0.pttl <= state.pttl + 1_000 && $0.pttl > state.pttl - 180_000 } == true, "\(name) ttl")
                }
            }
        }
    }

    /// New keys, deleted keys, changed values and TTLs, so that a restore has something to undo.
    static func mutate(_ connection: RedisConnection) async throws {
        _ = try await connection.commandExpectingSuccess(["SELECT", "0"])
        _ = try await connection.commandExpectingSuccess(["SET", "written-after-backup", "x"])
        _ = try await connection.commandExpectingSuccess(["SELECT", "5"])
        _ = try await connection.commandExpectingSuccess(["HSET", "new-db-key", "f", "v"])
        _ = try await connection.commandExpectingSuccess(["SELECT", "3"])
        _ = try await connection.commandExpectingSuccess(["FLUSHDB"])
        _ = try await connection.commandExpectingSuccess(["SELECT", "0"])
    }

    static func record(_ server: TestServer, _ instanceID: String, _ restoreID: String) async throws -> [String: Any] {
        let list = try await DCSRestoreAPITests.restores(server, instanceID, query: "?limit=1000")
        return try #require((list.json["restore_record_response"] as? [[String: Any]])?.first { $0["restore_id"] as? String == restoreID })
    }

    @Test("Restore through the API: waiting → succeed, every key back, RESTORING while queued, free afterwards")
    func restore() async throws {
        try await RedisServer.withServer(password: "redis-pw", extraArguments: DCSBackupTests.redisArguments(diskless: "yes")) { redis in
            let writer = try await redis.connect()
            try await RedisDataset.populate(writer, scale: 60)
            let original = try await RedisDataset.snapshot(writer)
            try await TestServer.run { server in
                let (instanceID, backupID) = try await DCSRestoreAPITests.instanceWithBackup(server, redis)
                try await Self.mutate(writer)
                #expect(try await RedisDataset.snapshot(writer) != original)

                let created = try await DCSRestoreAPITests.restore(server, instanceID, json: #"{"backup_id": "\#(backupID)", "remark": "undo"}"#)
                let restoreID = try #require(created.json["restore_id"] as? String)
                #expect(try await Self.record(server, instanceID, restoreID)["status"] as? String == "waiting")
                let job = try #require(try await server.parts.worker.runOnce())
                #expect(job.status == .succeeded && job.kind == "dcs.restore")
                let record = try await Self.record(server, instanceID, restoreID)
                #expect(record["status"] as? String == "succeed")
                #expect(record["progress"] as? String == "100.00")
                #expect(record["error_code"] == nil)
                let stored = try #require(try await server.parts.store.dcs.restore(projectID: server.projectID, id: restoreID))
                #expect(stored.checkpoint == nil)
                // The fence closed the connections clients had during the restore; new ones log in and write again.
                let reader = try await redis.connect()
                Self.expectSame(try await RedisDataset.snapshot(reader), original)
                #expect(try await server.signed(.get, "/v2/\(server.projectID)/instances/\(instanceID)").json["task"] is NSNull)
                _ = try await reader.commandExpectingSuccess(["SET", "after-restore", "1"])
                await reader.close()
                #expect(try await DCSBackupTests.requestBackup(server, instanceID).status == .ok)
            }
            await writer.close()
        }
    }

    @Test("A migration task restores one instance's backup into another: MIGRATING → SUCCESS, then delete removes it")
    func migrationTask() async throws {
        try await RedisServer.withServer(password: "redis-pw", extraArguments: DCSBackupTests.redisArguments(diskless: "yes")) { source in
            try await RedisServer.withServer(password: "other-pw", extraArguments: DCSBackupTests.redisArguments(diskless: "yes")) { target in
                let sourceConnection = try await source.connect()
                try await RedisDataset.populate(sourceConnection, scale: 40)
                let original = try await RedisDataset.snapshot(sourceConnection)
                await sourceConnection.close()
                let targetConnection = try await target.connect()
                _ = try await targetConnection.commandExpectingSuccess(["SET", "only-on-target", "gone-after-import"])
                await targetConnection.close()
                try await TestServer.run { server in
                    let (_, backupID) = try await DCSRestoreAPITests.instanceWithBackup(server, source)
                    let targetID = try await DCSBackupTests.adopt(server, target, name: "cache-02")
                    let created = try await server.signed(
                        .post, "/v2/\(server.projectID)/migration-task",
                        json: """
                            {"task_name": "import", "migration_type": "backupfile_import", "migration_method": "full_amount_migration", \
                            "backup_files": {"file_source": "backup_record", "backup_id": "\(backupID)"}, "target_instance": {"id": "\(targetID)"}}
                            """)
                    let taskID = try #require(created.json["id"] as? String)
                    #expect(try await server.parts.worker.runOnce()?.status == .succeeded)
                    let shown = try await server.signed(.get, "/v2/\(server.projectID)/migration-task/\(taskID)")
                    #expect(shown.json["status"] as? String == "SUCCESS")
                    let reader = try await target.connect()
                    Self.expectSame(try await RedisDataset.snapshot(reader), original)
                    await reader.close()

                    let deleted = try await server.signed(
                        .delete, "/v2/\(server.projectID)/migration-tasks/delete", json: #"{"task_id_list": ["\#(taskID)"]}"#)
                    #expect(deleted.status == .ok && deleted.json["task_id_list"] as? [String] == [taskID])
                    #expect(try await server.signed(.get, "/v2/\(server.projectID)/migration-task/\(taskID)").errorCode == "DCS.4800")
                    #expect(try await server.signed(.get, "/v2/\(server.projectID)/migration-tasks").json["count"] as? Int == 0)
                }
            }
        }
    }

    @Test("Coffer killed while writing: on restart the job runs again, recovers from the checkpoint, the record ends failed and the data is as before")
    func crashMidRestore() async throws {
        try await RedisServer.withServer(password: "redis-pw", extraArguments: DCSBackupTests.redisArguments(diskless: "yes")) { redis in
            let writer = try await redis.connect()
            try await RedisDataset.populate(writer, scale: 40)
            try await TestServer.run { server in
                let (instanceID, backupID) = try await DCSRestoreAPITests.instanceWithBackup(server, redis)
                try await Self.mutate(writer)
                let before = try await RedisDataset.snapshot(writer)
                let created = try await DCSRestoreAPITests.restore(server, instanceID, json: #"{"backup_id": "\#(backupID)"}"#)
                let restoreID = try #require(created.json["restore_id"] as? String)
                let store = server.parts.store
                let crashed = try await Self.crashDuringWriting(server: server, restoreID: restoreID)
                let stuck = try #require(try await store.dcs.restore(projectID: server.projectID, id: restoreID))
                #expect(stuck.status == .restoring && stuck.checkpoint?.contains("\"writing\"") == true)

                // The restarted node: recovery queues the job again (idempotent, attempts left), the next run recovers.
                #expect(try await server.parts.worker.recoverExpiredJobs() == 1)
                let job = try #require(try await server.parts.worker.runOnce())
                #expect(job.kind == "dcs.restore" && job.status == .succeeded && job.attempts == 2)
                let record = try await Self.record(server, instanceID, restoreID)
                #expect(record["status"] as? String == "failed")
                #expect(record["error_code"] as? String == "dcs.08.0002")
                #expect(try await store.dcs.restore(projectID: server.projectID, id: restoreID)?.checkpoint == nil)
                // Unfenced: clients log in and write again, and the instance takes new tasks.
                let reader = try await redis.connect()
                Self.expectSame(try await RedisDataset.snapshot(reader), before)
                _ = try await reader.commandExpectingSuccess(["SET", "after-recovery", "1"])
                await reader.close()
                #expect(try await server.signed(.get, "/v2/\(server.projectID)/instances/\(instanceID)").json["task"] is NSNull)
                await crashed.release()
            }
            await writer.close()
        }
    }

    @Test("Shutdown mid-restore: the cancelled job leaves the record restoring with its checkpoint; the retry rolls back and ends failed")
    func shutdownMidRestore() async throws {
        try await RedisServer.withServer(password: "redis-pw", extraArguments: DCSBackupTests.redisArguments(diskless: "yes")) { redis in
            let writer = try await redis.connect()
            let keys = try await RedisDataset.populate(writer, scale: 40)
            try await TestServer.run { server in
                let (instanceID, backupID) = try await DCSRestoreAPITests.instanceWithBackup(server, redis)
                try await Self.mutate(writer)
                let before = try await RedisDataset.snapshot(writer)
                let created = try await DCSRestoreAPITests.restore(server, instanceID, json: #"{"backup_id": "\#(backupID)"}"#)
                let restoreID = try #require(created.json["restore_id"] as? String)
                let store = server.parts.store
                // The engine's safety snapshot of the target takes a few seconds: time to stop the job inside it.
                _ = try await writer.commandExpectingSuccess(["CONFIG", "SET", "rdb-key-save-delay", "\(max(1, 4_000_000 / keys))"])
                let now = Date()
                let job = try #require(
                    try await store.jobs.claim(kinds: [JobKind.dcsRestore.rawValue], owner: "node-a", now: now, leaseUntil: now.addingTimeInterval(60)))
                var logger = Logger(label: "coffer.test.restore")
                logger.logLevel = .critical
                let handler = DCSRestoreJob(store: store.dcs, engine: RedisRestoreEngine(blobs: store.blobs, logger: logger, replication: nil), logger: logger, clock: { Date() })
                let running = Task { try await handler.run(job) }
                let deadline = ContinuousClock.now.advanced(by: .seconds(30))
                while !(try await store.dcs.restore(projectID: server.projectID, id: restoreID)?.checkpoint?.contains("\"snapshotting\"") ?? false) {
                    try #require(ContinuousClock.now < deadline, "the engine never started its safety snapshot")
                    try await Task.sleep(for: .milliseconds(10))
                }
                running.cancel()  // what the worker does at shutdown once the grace period is over
                if case .success = await running.result { Issue.record("a cancelled restore job must not end as finished") }
                let interrupted = try #require(try await store.dcs.restore(projectID: server.projectID, id: restoreID))
                #expect(interrupted.status == .restoring && interrupted.checkpoint != nil)

                // The retry (the job is released and claimed again) recovers from the checkpoint.
                try await handler.run(job)
                let record = try await Self.record(server, instanceID, restoreID)
                #expect(record["status"] as? String == "failed" && record["error_code"] as? String == "dcs.08.0002")
                let reader = try await redis.connect()
                _ = try await reader.commandExpectingSuccess(["CONFIG", "SET", "rdb-key-save-delay", "0"])
                Self.expectSame(try await RedisDataset.snapshot(reader), before)
                _ = try await reader.commandExpectingSuccess(["SET", "after-recovery", "1"])
                await reader.close()
            }
            await writer.close()
        }
    }

    /// Plays the node that dies: claims the queued restore job with a lease that has already run out, and drives the
    /// real engine the way the job does (checkpoints stored on the record) until it reports progress while writing
    /// into the target (flushed, partly written); there it stops answering, as a killed process would, until
    /// `release()`.
    static func crashDuringWriting(server: TestServer, restoreID: String) async throws -> CrashedRestore {
        let store = server.parts.store
        let now = Date()
        _ = try #require(
            try await store.jobs.claim(kinds: [JobKind.dcsRestore.rawValue], owner: "killed-node", now: now, leaseUntil: now.addingTimeInterval(-1)))
        var record = try #require(try await store.dcs.restore(projectID: server.projectID, id: restoreID))
        record.status = .restoring
        try await store.dcs.updateRestore(record)
        let backup = try #require(try await store.dcs.backup(projectID: server.projectID, id: record.backupID))
        let target = try #require(try await store.dcs.instance(projectID: server.projectID, id: record.instanceID))
        let request = RedisRestoreRequest(restoreID: restoreID, backup: backup, backupBlobKey: try #require(backup.blobKey), target: target)
        var logger = Logger(label: "coffer.test.killed-node")
        logger.logLevel = .critical
        let engine = RedisRestoreEngine(blobs: store.blobs, logger: logger, replication: nil)
        let crashed = CrashedRestore()
        let projectID = server.projectID
        let task = Task {
            _ = try? await engine.restore(
                request,
                save: { checkpoint in
                    // After `release()` the dead node stores nothing more.
                    if crashed.isReleased { throw CancellationError() }
                    try await store.dcs.saveRestoreCheckpoint(projectID: projectID, id: restoreID, checkpoint: checkpoint.json, at: Date())
                },
                progress: { fraction in if fraction > 0 { await crashed.hang() } })
        }
        crashed.task.withLock { $0 = task }
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        while !crashed.isHanging {
            try #require(ContinuousClock.now < deadline, "the engine never reported progress while writing")
            try await Task.sleep(for: .milliseconds(20))
        }
        return crashed
    }
}

/// The killed node's engine, frozen inside its progress callback until the test ends.
final class CrashedRestore: Sendable {
    private enum Gate {
        case open
        case waiting(CheckedContinuation<Void, Never>)
        case released
    }

    private let gate = Mutex<Gate>(.open)
    let task = Mutex<Task<Void, Never>?>(nil)

    var isHanging: Bool { self.gate.withLock { if case .waiting = $0 { true } else { false } } }
    var isReleased: Bool { self.gate.withLock { if case .released = $0 { true } else { false } } }

    func hang() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let released = self.gate.withLock { gate -> Bool in
                if case .released = gate { return true }
                gate = .waiting(continuation)
                return false
            }
            if released { continuation.resume() }
        }
    }

    /// Lets the frozen engine go on (its next checkpoint fails, so it stops) and waits for it, so that nothing
    /// outlives the test.
    func release() async {
        let waiting = self.gate.withLock { gate -> CheckedContinuation<Void, Never>? in
            defer { gate = .released }
            if case .waiting(let continuation) = gate { return continuation }
            return nil
        }
        waiting?.resume()
        await self.task.withLock { $0 }?.value
    }
}
