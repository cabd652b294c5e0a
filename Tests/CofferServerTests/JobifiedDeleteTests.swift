import CofferCore
import CofferJobs
import CofferMySQL
import CofferOperations
import CofferServer
import CofferStorage
import CofferTestSupport
import Foundation
import HTTPTypes
import Testing

/// Deletes are jobs: a request validates, queues and answers; what it started finishes even when the process
/// dies in between. Each test plays the crash: the job is queued, a worker claims it and dies (its lease runs
/// out), and the next worker recovers it and finishes it.
@Suite("Jobified deletes survive a crash", .serialized, .timeLimit(.minutes(2)))
struct JobifiedDeleteTests {
    /// Claims the only queued job as a worker that then dies, and lets a fresh worker recover and run it.
    static func crashAndRecover(_ server: TestServer, kind: JobKind) async throws -> Job {
        let now = Date()
        let claimed = try #require(
            try await server.parts.store.jobs.claim(kinds: [kind.rawValue], owner: "crashed", now: now, leaseUntil: now.addingTimeInterval(-1)))
        #expect(try await server.parts.worker.recoverExpiredJobs() == 1)
        #expect(try await server.parts.store.jobs.job(id: claimed.id)?.status == .queued, "an idempotent delete is queued again")
        let finished = try #require(try await server.parts.worker.runOnce())
        #expect(finished.id == claimed.id)
        return finished
    }

    @Test("A DCS backup delete queued just before a crash: on restart the record ends deleted and the file is gone")
    func dcsBackupDelete() async throws {
        try await RedisServer.withServer(extraArguments: DCSBackupTests.redisArguments(diskless: "no")) { redis in
            try await TestServer.run { server in
                let instanceID = try await DCSBackupTests.adopt(server, redis)
                let backupID = try #require(try await DCSBackupTests.requestBackup(server, instanceID).json["backup_id"] as? String)
                #expect(try await server.parts.worker.runOnce()?.status == .succeeded)
                let store = server.parts.store
                let record = try #require(try await store.dcs.backup(projectID: server.projectID, instanceID: instanceID, id: backupID))
                let key = try #require(record.blobKey)
                // The process died right after queuing the job: the record is not marked yet.
                try await store.jobs.enqueue(
                    Job.new(
                        kind: JobKind.dcsBackupDelete.rawValue, projectID: server.projectID, resourceID: backupID,
                        payload: #"{"instance_id": "\#(instanceID)", "backup_id": "\#(backupID)"}"#, maxAttempts: 5, now: Date()))
                #expect(try await DCSBackupTests.record(server, instanceID, backupID)["status"] as? String == "succeed")
                let finished = try await Self.crashAndRecover(server, kind: .dcsBackupDelete)
                #expect(finished.status == .succeeded)
                #expect(try await DCSBackupTests.record(server, instanceID, backupID)["status"] as? String == "deleted")
                #expect(!(await store.blobs.exists(key: key)))
            }
        }
    }

    @Test("A DCS instance delete interrupted by a crash removes every backup file on restart")
    func dcsInstanceDelete() async throws {
        try await RedisServer.withServer(extraArguments: DCSBackupTests.redisArguments(diskless: "no")) { redis in
            try await TestServer.run { server in
                let instanceID = try await DCSBackupTests.adopt(server, redis)
                let backupID = try #require(try await DCSBackupTests.requestBackup(server, instanceID).json["backup_id"] as? String)
                #expect(try await server.parts.worker.runOnce()?.status == .succeeded)
                let key = "dcs/\(server.projectID)/\(instanceID)/\(backupID).rdb"
                #expect(try await server.signed(.delete, "/v2/\(server.projectID)/instances/\(instanceID)").status == .noContent)
                // Gone for the API at once; the file waits for the job, which the crash interrupts.
                #expect(try await server.signed(.get, "/v2/\(server.projectID)/instances/\(instanceID)").status == .notFound)
                #expect(await server.parts.store.blobs.exists(key: key))
                let finished = try await Self.crashAndRecover(server, kind: .dcsInstanceDelete)
                #expect(finished.status == .succeeded)
                #expect(!(await server.parts.store.blobs.exists(key: key)))
                let record = try await server.parts.store.dcs.backup(projectID: server.projectID, instanceID: instanceID, id: backupID)
                #expect(record?.status == .deleted)
            }
        }
    }

    @Test("A DDM instance delete interrupted by a crash drops the shard databases and the instance on restart")
    func ddmInstanceDelete() async throws {
        try await MariaDBServer.withServers(2) { nodes in
            try await TestServer.run { server in
                let p = server.projectID
                let (instance, _) = try await DDMBackupTests.setUp(server, nodes: nodes)
                let removed = try await server.signed(.delete, "/v1/\(p)/instances/\(instance)")
                #expect(removed.status == .ok)
                let jobID = try #require(removed.json["job_id"] as? String)
                // While the delete is pending the instance is busy: no backup starts on it.
                let refused = try await server.signed(.post, "/v3/\(p)/instances/\(instance)/backups")
                #expect(refused.status == .conflict)
                #expect(refused.errorCode == "DBS.200019")
                let finished = try await Self.crashAndRecover(server, kind: .ddmInstanceDelete)
                #expect(finished.id == jobID && finished.status == .succeeded)
                for node in nodes {
                    let left = try await node.execute("SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'shop\\_%'")
                    #expect(left[0].value("n") == "0")
                }
                #expect(try await server.signed(.get, "/v1/\(p)/instances/\(instance)").status == .notFound)
                let job = try await server.signed(.get, "/v3/\(p)/jobs/\(jobID)")
                #expect((job.json["job"] as? [String: Any])?["status"] as? String == "Completed")
            }
        }
    }

    @Test("A DDM instance delete whose data node refuses fails visibly, names the node, and leaves the instance")
    func ddmInstanceDeleteFails() async throws {
        try await MariaDBServer.withServers(1) { nodes in
            try await TestServer.run { server in
                let p = server.projectID
                let (instance, _) = try await DDMBackupTests.setUp(server, nodes: nodes)
                await nodes[0].stop()
                let removed = try await server.signed(.delete, "/v1/\(p)/instances/\(instance)")
                let jobID = try #require(removed.json["job_id"] as? String)
                try await DDMBackupTests.drain(server)
                let job = try await server.signed(.get, "/v3/\(p)/jobs?limit=10")
                let entry = try #require((job.json["jobs"] as? [[String: Any]])?.first { $0["id"] as? String == jobID })
                #expect(entry["status"] as? String == "Failed")
                #expect((entry["fail_reason"] as? String)?.contains("data node") == true)
                #expect(try await server.signed(.get, "/v1/\(p)/instances/\(instance)").status == .ok)
            }
        }
    }
}
