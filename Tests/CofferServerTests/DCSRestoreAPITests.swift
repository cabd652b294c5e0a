import CofferCore
import CofferJobs
import CofferServer
import CofferStorage
import CofferTestSupport
import Foundation
import HTTPTypes
import NIOCore
import Testing

/// The restore and migration-task API without running a restore: validation, busy codes both ways, the list's
/// window, paging, `total_num` and exact types, and migration task bookkeeping.
@Suite("DCS restore API", .timeLimit(.minutes(2)))
struct DCSRestoreAPITests {
    /// Adopts `redis` and takes one real backup of it (the job run to the end); returns the instance and backup ids.
    static func instanceWithBackup(_ server: TestServer, _ redis: RedisServer, name: String = "cache-01") async throws -> (String, String) {
        let instanceID = try await DCSBackupTests.adopt(server, redis, name: name)
        let created = try await DCSBackupTests.requestBackup(server, instanceID, json: #"{"remark": "nightly"}"#)
        let backupID = try #require(created.json["backup_id"] as? String)
        #expect(try await server.parts.worker.runOnce()?.status == .succeeded)
        return (instanceID, backupID)
    }

    static func restore(_ server: TestServer, _ instanceID: String, json: String?) async throws -> TestServer.Reply {
        try await server.signed(.post, "/v2/\(server.projectID)/instances/\(instanceID)/restores", json: json)
    }

    static func restores(_ server: TestServer, _ instanceID: String, query: String = "") async throws -> TestServer.Reply {
        try await server.signed(.get, "/v2/\(server.projectID)/instances/\(instanceID)/restores" + query)
    }

    @Test("Validation: body, backup_id, remark, unknown instance and backup, backup not succeed")
    func validation() async throws {
        try await RedisServer.withServer(password: "redis-pw", extraArguments: DCSBackupTests.redisArguments(diskless: "yes")) { redis in
            try await TestServer.run { server in
                let (instanceID, backupID) = try await Self.instanceWithBackup(server, redis)
                let otherID = try await DCSBackupTests.adopt(server, redis, name: "cache-02")
                #expect(try await Self.restore(server, instanceID, json: nil).errorCode == "DCS.4004")
                #expect(try await Self.restore(server, instanceID, json: "[1]").errorCode == "DCS.4005")
                #expect(try await Self.restore(server, instanceID, json: #"{"remark": "x"}"#).errorCode == "DCS.4800")
                #expect(try await Self.restore(server, instanceID, json: #"{"backup_id": 7}"#).errorCode == "DCS.4800")
                let long = String(repeating: "r", count: 129)
                #expect(try await Self.restore(server, instanceID, json: #"{"backup_id": "\#(backupID)", "remark": "\#(long)"}"#).errorCode == "DCS.4098")
                let unknownInstance = try await Self.restore(server, Identifiers.uuid(), json: #"{"backup_id": "\#(backupID)"}"#)
                #expect(unknownInstance.status == .notFound && unknownInstance.errorCode == "DCS.3022")
                for id in [Identifiers.uuid(), "not-a-uuid"] {
                    let reply = try await Self.restore(server, instanceID, json: #"{"backup_id": "\#(id)"}"#)
                    #expect(reply.status == .badRequest && reply.errorCode == "DCS.4800")
                }
                // Another instance's backup is not this instance's: restoring it here takes a migration task.
                #expect(try await Self.restore(server, otherID, json: #"{"backup_id": "\#(backupID)"}"#).errorCode == "DCS.4800")

                // A backup that is not `succeed` (here: deleted) cannot be restored.
                let deleted = try await server.signed(.delete, "/v2/\(server.projectID)/instances/\(instanceID)/backups/\(backupID)")
                #expect(deleted.status == .noContent)
                _ = try await server.parts.worker.runOnce()
                let refused = try await Self.restore(server, instanceID, json: #"{"backup_id": "\#(backupID)"}"#)
                #expect(refused.status == .badRequest && refused.errorCode == "DCS.4087")
                #expect(try await Self.restores(server, instanceID).json["total_num"] as? Int == 0)
            }
        }
    }

    @Test("Busy both ways: a restore while a backup runs is DCS.4096; a backup or restore while a restore runs is DCS.4097")
    func busy() async throws {
        try await RedisServer.withServer(password: "redis-pw", extraArguments: DCSBackupTests.redisArguments(diskless: "yes")) { redis in
            try await TestServer.run { server in
                let (instanceID, backupID) = try await Self.instanceWithBackup(server, redis)
                let body = #"{"backup_id": "\#(backupID)", "remark": "undo"}"#
                #expect(try await DCSBackupTests.requestBackup(server, instanceID).status == .ok)
                let duringBackup = try await Self.restore(server, instanceID, json: body)
                #expect(duringBackup.status == .badRequest && duringBackup.errorCode == "DCS.4096")
                #expect(try await server.parts.worker.runOnce()?.status == .succeeded)

                let accepted = try await Self.restore(server, instanceID, json: body)
                #expect(accepted.status == .ok)
                let restoreID = try #require(accepted.json["restore_id"] as? String)
                #expect(Identifiers.isUUID(restoreID))
                #expect(try await server.signed(.get, "/v2/\(server.projectID)/instances/\(instanceID)").json["task"] as? String == "RESTORING")
                let backupDuringRestore = try await DCSBackupTests.requestBackup(server, instanceID)
                #expect(backupDuringRestore.status == .badRequest && backupDuringRestore.errorCode == "DCS.4097")
                let restoreDuringRestore = try await Self.restore(server, instanceID, json: body)
                #expect(restoreDuringRestore.status == .badRequest && restoreDuringRestore.errorCode == "DCS.4097")
                // Deleting the instance meanwhile is refused as for any task.
                #expect(try await server.signed(.delete, "/v2/\(server.projectID)/instances/\(instanceID)").errorCode == "DCS.4026")

                let list = try await Self.restores(server, instanceID)
                #expect(list.json["total_num"] as? Int == 1)
                let record = try #require((list.json["restore_record_response"] as? [[String: Any]])?.first)
                #expect(record["restore_id"] as? String == restoreID)
                #expect(record["status"] as? String == "waiting")
                #expect(record["progress"] as? String == "0.00")
                #expect(record["backup_id"] as? String == backupID)
                #expect((record["backup_name"] as? String)?.hasPrefix("backup_") == true)
                #expect(record["backup_remark"] as? String == "nightly")
                #expect(record["restore_remark"] as? String == "undo")
                #expect((record["restore_name"] as? String)?.wholeMatch(of: /restore_[0-9]{17}/) != nil)
                #expect(record["created_at"] is String && record["updated_at"] is String)
                #expect(record["error_code"] == nil)
                // Only the busy instance is busy: the same backup goes into another instance through a migration task.
                // Listing another instance shows nothing of this one's restores.
                let otherID = try await DCSBackupTests.adopt(server, redis, name: "cache-02")
                #expect(try await Self.restores(server, otherID).json["total_num"] as? Int == 0)
            }
        }
    }

    @Test("A backup deleted after the restore was requested: the record ends failed dcs.08.0005 and the instance is free")
    func backupDeletedBeforeTheRestoreRuns() async throws {
        try await RedisServer.withServer(password: "redis-pw", extraArguments: DCSBackupTests.redisArguments(diskless: "yes")) { redis in
            try await TestServer.run { server in
                let (instanceID, backupID) = try await Self.instanceWithBackup(server, redis)
                let created = try await Self.restore(server, instanceID, json: #"{"backup_id": "\#(backupID)"}"#)
                let restoreID = try #require(created.json["restore_id"] as? String)
                let deleted = try await server.signed(.delete, "/v2/\(server.projectID)/instances/\(instanceID)/backups/\(backupID)")
                #expect(deleted.status == .noContent)
                let job = try #require(try await server.parts.worker.runOnce())
                #expect(job.kind == "dcs.restore" && job.status == .succeeded)
                let record = try #require(
                    (try await Self.restores(server, instanceID).json["restore_record_response"] as? [[String: Any]])?.first)
                #expect(record["restore_id"] as? String == restoreID)
                #expect(record["status"] as? String == "failed" && record["error_code"] as? String == "dcs.08.0005")
                #expect(try await server.signed(.get, "/v2/\(server.projectID)/instances/\(instanceID)").json["task"] is NSNull)
            }
        }
    }

    @Test("The list: newest first, offset/limit, begin_time/end_time inclusive, total_num, parameter errors")
    func list() async throws {
        try await RedisServer.withServer(password: "redis-pw", extraArguments: DCSBackupTests.redisArguments(diskless: "yes")) { redis in
            try await TestServer.run { server in
                let (instanceID, backupID) = try await Self.instanceWithBackup(server, redis)
                let store = server.parts.store.dcs
                let backup = try #require(try await store.backup(projectID: server.projectID, id: backupID))
                let target = try #require(try await store.instance(projectID: server.projectID, id: instanceID))
                // Twelve finished restores an hour apart, inserted through the store (each job on its own resource).
                let base = try #require(WireTime.parseCompact("20240506120000"))
                var ids: [String] = []
                for hour in 0..<12 {
                    var record = DCSRestoreRecord.new(backup: backup, target: target, remark: nil, now: base.addingTimeInterval(Double(hour) * 3600))
                    var job = Job.new(kind: "test.none", projectID: server.projectID, resourceID: record.id, now: record.createdAt)
                    job.status = .succeeded
                    #expect(try await store.insertRestore(record, job: job) == .enqueued)
                    record.status = hour == 3 ? .failed : .succeed
                    record.errorCode = hour == 3 ? .synchronization : nil
                    record.progress = hour == 3 ? .init(hundredths: 4210) : .complete
                    try await store.updateRestore(record)
                    ids.append(record.id)
                }
                func page(_ query: String) async throws -> (Int?, [[String: Any]]) {
                    let reply = try await Self.restores(server, instanceID, query: query)
                    #expect(reply.status == .ok, "\(query): \(String(buffer: reply.body))")
                    return (reply.json["total_num"] as? Int, reply.json["restore_record_response"] as? [[String: Any]] ?? [])
                }
                let first = try await page("")
                #expect(first.0 == 12 && first.1.count == 10)
                #expect(first.1.map { $0["restore_id"] as? String } == ids.reversed().prefix(10).map { $0 })
                let last = try await page("?offset=10&limit=5")
                #expect(last.0 == 12 && last.1.map { $0["restore_id"] as? String } == [ids[1], ids[0]])
                let window = try await page("?begin_time=20240506140000&end_time=20240506160000&limit=1000")
                #expect(window.0 == 3 && window.1.map { $0["restore_id"] as? String } == [ids[4], ids[3], ids[2]])
                let failed = try #require(window.1.first { $0["restore_id"] as? String == ids[3] })
                #expect(failed["status"] as? String == "failed" && failed["error_code"] as? String == "dcs.08.0007" && failed["progress"] as? String == "42.10")
                #expect(failed["restore_remark"] == nil)
                let none = try await page("?begin_time=20300101000000")
                #expect(none.0 == 0 && none.1.isEmpty)
                for bad in ["?limit=0", "?limit=1001", "?offset=-1", "?begin_time=2024", "?end_time=20241340000000"] {
                    let reply = try await Self.restores(server, instanceID, query: bad)
                    #expect(reply.status == .badRequest && reply.errorCode == "DCS.4800", "\(bad)")
                }
                #expect(try await Self.restores(server, instanceID, query: "?begin_time=20240506160000&end_time=20240506140000").errorCode == "DCS.4025")
                #expect(try await Self.restores(server, Identifiers.uuid()).status == .notFound)
            }
        }
    }

    @Test("Migration tasks: validation, create (MIGRATING, target busy), show, list, delete refused while running")
    func migrationTasks() async throws {
        try await RedisServer.withServer(password: "redis-pw", extraArguments: DCSBackupTests.redisArguments(diskless: "yes")) { redis in
            try await TestServer.run { server in
                let (sourceID, backupID) = try await Self.instanceWithBackup(server, redis)
                let targetID = try await DCSBackupTests.adopt(server, redis, name: "cache-02")
                func body(type: String = "backupfile_import", method: String = "full_amount_migration", source: String = "backup_record",
                          backup: String? = nil, target: String? = nil, name: String = "copy-to-staging") -> String {
                    """
                    {"task_name": "\(name)", "description": "to staging", "migration_type": "\(type)", "migration_method": "\(method)", \
                    "backup_files": {"file_source": "\(source)", "backup_id": "\(backup ?? backupID)"}, "target_instance": {"id": "\(target ?? targetID)"}}
                    """
                }
                let path = "/v2/\(server.projectID)/migration-task"
                for (json, code) in [
                    (body(type: "online_migration"), "DCS.4800"), (body(method: "incremental_migration"), "DCS.4800"),
                    (body(source: "self_build_obs"), "DCS.4800"), (body(backup: Identifiers.uuid()), "DCS.4800"), (body(name: ""), "DCS.4800"),
                    (#"{"task_name": "t"}"#, "DCS.4800"),
                ] {
                    let reply = try await server.signed(.post, path, json: json)
                    #expect(reply.status == .badRequest && reply.errorCode == code, "\(json): \(String(buffer: reply.body))")
                }
                #expect(try await server.signed(.post, path, json: body(target: Identifiers.uuid())).status == .notFound)

                let created = try await server.signed(.post, path, json: body())
                #expect(created.status == .ok, "\(String(buffer: created.body))")
                let taskID = try #require(created.json["id"] as? String)
                #expect(created.json["name"] as? String == "copy-to-staging" && created.json["status"] as? String == "MIGRATING")
                // The target is the busy one; the backup's own instance is free.
                #expect(try await server.signed(.get, "/v2/\(server.projectID)/instances/\(targetID)").json["task"] as? String == "RESTORING")
                #expect(try await server.signed(.get, "/v2/\(server.projectID)/instances/\(sourceID)").json["task"] is NSNull)
                #expect(try await server.signed(.post, path, json: body()).errorCode == "DCS.4097")
                #expect(try await DCSBackupTests.requestBackup(server, targetID).errorCode == "DCS.4097")

                let shown = try await server.signed(.get, "\(path)/\(taskID)")
                #expect(shown.status == .ok)
                #expect(shown.json["task_id"] as? String == taskID && shown.json["task_name"] as? String == "copy-to-staging")
                #expect(shown.json["status"] as? String == "MIGRATING" && shown.json["description"] as? String == "to staging")
                #expect(shown.json["migration_type"] as? String == "backupfile_import")
                #expect(shown.json["migration_method"] as? String == "full_amount_migration")
                #expect((shown.json["backup_files"] as? [String: Any])?["backup_id"] as? String == backupID)
                #expect((shown.json["target_instance"] as? [String: Any])?["id"] as? String == targetID)
                #expect(try await server.signed(.get, "\(path)/not-a-uuid").errorCode == "DCS.4070")
                #expect(try await server.signed(.get, "\(path)/\(Identifiers.uuid())").errorCode == "DCS.4800")

                let listed = try await server.signed(.get, "/v2/\(server.projectID)/migration-tasks?offset=0&limit=10&name=STAGING")
                #expect(listed.json["count"] as? Int == 1)
                let item = try #require((listed.json["migration_tasks"] as? [[String: Any]])?.first)
                #expect(item["task_id"] as? String == taskID && item["status"] as? String == "MIGRATING")
                #expect(item["target_instance_id"] as? String == targetID && item["target_instance_name"] as? String == "cache-02")
                #expect(try await server.signed(.get, "/v2/\(server.projectID)/migration-tasks?name=other").json["count"] as? Int == 0)
                #expect(try await server.signed(.get, "/v2/\(server.projectID)/migration-tasks?limit=0").errorCode == "DCS.4800")
                // Restore records of the target do not list migration tasks.
                #expect(try await Self.restores(server, targetID).json["total_num"] as? Int == 0)

                let deletePath = "/v2/\(server.projectID)/migration-tasks/delete"
                let running = try await server.signed(.delete, deletePath, json: #"{"task_id_list": ["\#(taskID)"]}"#)
                #expect(running.status == .badRequest && running.errorCode == "DCS.4957")
                #expect(try await server.signed(.delete, deletePath, json: #"{"task_id_list": []}"#).errorCode == "DCS.4800")
                #expect(try await server.signed(.delete, deletePath, json: #"{"task_id_list": ["x"]}"#).errorCode == "DCS.4070")
                #expect(try await server.signed(.get, "\(path)/\(taskID)").status == .ok)
            }
        }
    }
}
