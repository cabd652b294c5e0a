import CofferCore
import CofferJobs
import CofferOperations
import CofferRedis
import CofferServer
import CofferStorage
import CofferTestSupport
import Foundation
import HTTPTypes
import NIOCore
import Testing

@Suite("DCS backups of real Redis servers", .timeLimit(.minutes(3)))
struct DCSBackupTests {
    /// Redis arguments that keep tests fast: no 5-second diskless delay.
    static func redisArguments(diskless: String) -> [String] { ["--repl-diskless-sync", diskless, "--repl-diskless-sync-delay", "0"] }

    /// Adopts `redis` as an instance; returns its id.
    static func adopt(_ server: TestServer, _ redis: RedisServer, name: String = "cache-01") async throws -> String {
        let created = try await server.signed(
            .post, "/v2/\(server.projectID)/instances",
            json: DCSInstanceTests.createBody(name: name, port: redis.port, password: redis.password))
        try #require(created.status == .ok, "\(String(buffer: created.body))")
        return try #require((created.json["instances"] as? [[String: Any]])?.first?["instance_id"] as? String)
    }

    static func requestBackup(_ server: TestServer, _ instanceID: String, json: String? = nil) async throws -> TestServer.Reply {
        try await server.signed(.post, "/v2/\(server.projectID)/instances/\(instanceID)/backups", json: json)
    }

    static func record(_ server: TestServer, _ instanceID: String, _ backupID: String) async throws -> [String: Any] {
        let list = try await server.signed(.get, "/v2/\(server.projectID)/instances/\(instanceID)/backups?limit=1000")
        return try #require((list.json["backup_record_response"] as? [[String: Any]])?.first { $0["backup_id"] as? String == backupID })
    }

    @Test("Backup, download, verify with redis-check-rdb, load into a fresh server: every key and TTL", arguments: ["yes", "no"])
    func endToEnd(diskless: String) async throws {
        try await RedisServer.withServer(password: "redis-pw", extraArguments: Self.redisArguments(diskless: diskless)) { redis in
            let writer = try await redis.connect()
            try await RedisDataset.populate(writer, scale: 300)
            let originalAt = Date()
            let original = try await RedisDataset.snapshot(writer)
            let originalTook = Date().timeIntervalSince(originalAt)
            await writer.close()
            try await TestServer.run { server in
                let instanceID = try await Self.adopt(server, redis)
                let created = try await Self.requestBackup(server, instanceID, json: #"{"remark": "nightly", "backup_format": "rdb"}"#)
                #expect(created.status == .ok)
                let backupID = try #require(created.json["backup_id"] as? String)
                #expect(try await Self.record(server, instanceID, backupID)["status"] as? String == "waiting")
                #expect(try await server.signed(.get, "/v2/\(server.projectID)/instances/\(instanceID)").json["task"] as? String == "BACKUPING")

                let job = try #require(try await server.parts.worker.runOnce())
                #expect(job.status == .succeeded)
                let record = try await Self.record(server, instanceID, backupID)
                #expect(record["status"] as? String == "succeed")
                #expect(record["progress"] as? String == "100.00")
                #expect(record["is_support_restore"] as? String == "TRUE")
                #expect(record["remark"] as? String == "nightly")
                #expect(record["error_code"] == nil)
                #expect((record["backup_name"] as? String)?.hasPrefix("backup_") == true)
                #expect(record["execution_at"] is String)
                let size = try #require(record["size"] as? Int)
                #expect(size > 10_000)
                #expect(try await server.signed(.get, "/v2/\(server.projectID)/instances/\(instanceID)").json["task"] is NSNull)

                let links = try await server.signed(
                    .post, "/v2/\(server.projectID)/instances/\(instanceID)/backups/\(backupID)/links", json: #"{"expiration": 600}"#)
                #expect(links.status == .ok)
                #expect(links.json["file_path"] as? String == "\(instanceID)/\(backupID)/")
                let item = try #require((links.json["links"] as? [[String: Any]])?.first)
                let fileName = try #require(item["file_name"] as? String)
                #expect(fileName.hasPrefix("redis_127.0.0.1_\(redis.port)_") && fileName.hasSuffix(".rdb"))
                let link = try #require(item["link"] as? String)
                let path = String(link.dropFirst("http://localhost".count))

                let download = try await server.raw(.get, path)
                #expect(download.status == .ok)
                #expect(download.headers[.contentLength] == String(size))
                #expect(download.body.readableBytes == size)
                let directory = try TemporaryDirectory(prefix: "coffer-download")
                defer { directory.remove() }
                let file = directory.file("backup.rdb")
                try Data(download.body.readableBytesView).write(to: file)
                let check = try ProcessRunner.run("redis-check-rdb", [file.path])
                #expect(check.status == 0, "\(check.output)")

                let partial = try await server.raw(.get, path, headers: [.range: "bytes=0-8"])
                #expect(partial.status == .partialContent)
                #expect(String(buffer: partial.body).hasPrefix("REDIS00"))
                #expect(partial.headers[.contentRange] == "bytes 0-8/\(size)")
                #expect(try await server.raw(.get, path, headers: [.range: "bytes=\(size)-"]).status == .rangeNotSatisfiable)
                let tampered = path.replacingOccurrences(of: "Expires=", with: "Expires=1")
                let denied = try await server.raw(.get, tampered)
                #expect(denied.status == .forbidden)
                #expect(denied.errorCode == "DCS.2003")

                let restored = try await RedisServer.start(preload: file)
                let reader = try await restored.connect()
                let loadedAt = Date()
                let loaded = try await RedisDataset.snapshot(reader)
                // A key's TTL is read some time into its snapshot, which reads key by key: at most this long.
                let slack = (max(originalTook, Date().timeIntervalSince(loadedAt)) + 5) * 1000
                await reader.close()
                await restored.stop()
                #expect(loaded.keys.sorted() == original.keys.sorted())
                for (database, keys) in original {
                    let restoredKeys = loaded[database] ?? [:]
                    #expect(restoredKeys.count == keys.count, "db \(database)")
                    for (name, state) in keys {
                        let copy = restoredKeys[name]
                        #expect(copy?.type == state.type && copy?.value == state.value, "\(name)")
                        if state.pttl < 0 { #expect(copy?.pttl == state.pttl, "\(name)") } else {
                            // The same deadline (each snapshot's start plus the TTL it read), whatever the test's duration
                            // on a busy machine, within the time the slower snapshot took to read every key.
                            let deadline = originalAt.timeIntervalSince1970 * 1000 + Double(state.pttl)
                            #expect(
                                copy.map { abs(loadedAt.timeIntervalSince1970 * 1000 + Double($0.pttl) - deadline) < slack } == true,
                                "\(name) ttl: \(copy?.pttl ?? -3) against \(state.pttl), slack \(slack) ms")
                        }
                    }
                }

                #expect(try await server.signed(.delete, "/v2/\(server.projectID)/instances/\(instanceID)/backups/\(backupID)").status == .noContent)
                #expect(try await Self.record(server, instanceID, backupID)["status"] as? String == "deleted")
                #expect(try await server.raw(.get, path).status == .forbidden)
                let again = try await server.signed(.delete, "/v2/\(server.projectID)/instances/\(instanceID)/backups/\(backupID)")
                #expect(again.errorCode == "DCS.4031")
                // The file goes in a `dcs.backup.delete` job, durable from the moment the request answered.
                let key = "dcs/\(server.projectID)/\(instanceID)/\(backupID).rdb"
                #expect(await server.parts.store.blobs.exists(key: key))
                let removal = try #require(try await server.parts.worker.runOnce())
                #expect(removal.kind == "dcs.backup.delete" && removal.status == .succeeded)
                #expect(!(await server.parts.store.blobs.exists(key: key)))
            }
        }
    }

    @Test("One task at a time: a second backup, deleting the instance or the running backup are refused")
    func busy() async throws {
        try await RedisServer.withServer(extraArguments: Self.redisArguments(diskless: "yes")) { redis in
            try await TestServer.run { server in
                let instanceID = try await Self.adopt(server, redis)
                let first = try await Self.requestBackup(server, instanceID)
                let backupID = try #require(first.json["backup_id"] as? String)
                let second = try await Self.requestBackup(server, instanceID)
                #expect(second.status == .badRequest)
                #expect(second.errorCode == "DCS.4096")
                #expect(try await server.signed(.delete, "/v2/\(server.projectID)/instances/\(instanceID)").errorCode == "DCS.4026")
                let deleteRunning = try await server.signed(.delete, "/v2/\(server.projectID)/instances/\(instanceID)/backups/\(backupID)")
                #expect(deleteRunning.errorCode == "DCS.4096")
                let earlyLink = try await server.signed(
                    .post, "/v2/\(server.projectID)/instances/\(instanceID)/backups/\(backupID)/links", json: #"{"expiration": 300}"#)
                #expect(earlyLink.errorCode == "DCS.4800")
                _ = try await server.parts.worker.runOnce()
                #expect(try await Self.requestBackup(server, instanceID).status == .ok)
            }
        }
    }

    @Test("Bad requests: long remark, unknown backup_format, bad expiration, unknown backup")
    func validation() async throws {
        try await RedisServer.withServer(extraArguments: Self.redisArguments(diskless: "yes")) { redis in
            try await TestServer.run { server in
                let instanceID = try await Self.adopt(server, redis)
                let base = "/v2/\(server.projectID)/instances/\(instanceID)/backups"
                #expect(try await Self.requestBackup(server, instanceID, json: "{\"remark\": \"\(String(repeating: "r", count: 129))\"}").errorCode == "DCS.4098")
                let zip = try await Self.requestBackup(server, instanceID, json: #"{"backup_format": "zip"}"#)
                #expect(zip.errorCode == "DCS.4800")
                #expect((zip.json["error_msg"] as? String)?.contains("rdb or aof") == true)
                let unknown = Identifiers.uuid()
                #expect(try await server.signed(.delete, "\(base)/\(unknown)").errorCode == "DCS.4031")
                #expect(try await server.signed(.post, "\(base)/\(unknown)/links", json: #"{"expiration": 300}"#).errorCode == "DCS.4031")
                for body in [#"{"expiration": 299}"#, #"{"expiration": 86401}"#, #"{"expiration": "600"}"#] {
                    #expect(try await server.signed(.post, "\(base)/\(unknown)/links", json: body).errorCode == "DCS.4800", "\(body)")
                }
                #expect(try await server.signed(.get, "/v2/\(server.projectID)/instances/\(Identifiers.uuid())/backups").errorCode == "DCS.3022")
                let noBackups = try await server.signed(.get, base)
                #expect(noBackups.json["total_num"] as? Int == 0)
            }
        }
    }

    @Test("Failures end as failed with a fitting code and leave no file: wrong password, unreachable, killed mid-transfer")
    func failures() async throws {
        try await TestServer.run { server in
            // Password changed after adoption → the Redis side refuses: dcs.08.0001.
            let redis = try await RedisServer.start(password: "first", extraArguments: Self.redisArguments(diskless: "yes"))
            let instanceID = try await Self.adopt(server, redis)
            let admin = try await redis.connect()
            _ = try await admin.commandExpectingSuccess(["CONFIG", "SET", "requirepass", "second"])
            await admin.close()
            var backupID = try #require(try await Self.requestBackup(server, instanceID).json["backup_id"] as? String)
            #expect(try await server.parts.worker.runOnce()?.status == .failed)
            var record = try await Self.record(server, instanceID, backupID)
            #expect(record["status"] as? String == "failed")
            #expect(record["error_code"] as? String == "dcs.08.0001")
            #expect(record["is_support_restore"] as? String == "FALSE")

            // Server gone → dcs.08.0001.
            await redis.stop()
            backupID = try #require(try await Self.requestBackup(server, instanceID).json["backup_id"] as? String)
            #expect(try await server.parts.worker.runOnce()?.status == .failed)
            record = try await Self.record(server, instanceID, backupID)
            #expect(record["error_code"] as? String == "dcs.08.0001")

            // Killed mid-transfer: the fork child is slowed so the kill lands while bytes flow.
            let slow = try await RedisServer.start(extraArguments: Self.redisArguments(diskless: "yes") + ["--rdb-key-save-delay", "3000"])
            let writer = try await slow.connect()
            try await RedisDataset.populate(writer, scale: 150)
            await writer.close()
            let slowID = try await Self.adopt(server, slow, name: "cache-slow")
            backupID = try #require(try await Self.requestBackup(server, slowID).json["backup_id"] as? String)
            async let outcome = server.parts.worker.runOnce()
            var sawProgress = false
            for _ in 0..<200 {
                try await Task.sleep(for: .milliseconds(50))
                if try await Self.record(server, slowID, backupID)["status"] as? String == "backuping" {
                    sawProgress = true
                    break
                }
            }
            #expect(sawProgress)
            try await Task.sleep(for: .milliseconds(300))
            slow.kill()
            let started = ContinuousClock.now
            #expect(try await outcome?.status == .failed)
            #expect(ContinuousClock.now - started < .seconds(10))
            record = try await Self.record(server, slowID, backupID)
            #expect(record["status"] as? String == "failed")
            #expect(record["error_code"] as? String == "dcs.08.0001")
            await slow.stop()
            let objects = try FileManager.default.subpathsOfDirectory(atPath: server.dataDirectory + "/blobs/objects").filter { $0.hasSuffix(".rdb") }
            #expect(objects.isEmpty)
            #expect(try FileManager.default.contentsOfDirectory(atPath: server.dataDirectory + "/blobs/incoming").isEmpty)
        }
    }

    @Test("A link stops working when it expires")
    func expiredLink() async throws {
        let clock = Clock()
        try await RedisServer.withServer(extraArguments: Self.redisArguments(diskless: "yes")) { redis in
            try await TestServer.run(clock: { clock.value }) { server in
                let instanceID = try await Self.adopt(server, redis)
                let backupID = try #require(try await Self.requestBackup(server, instanceID).json["backup_id"] as? String)
                #expect(try await server.parts.worker.runOnce()?.status == .succeeded)
                let links = try await server.signed(
                    .post, "/v2/\(server.projectID)/instances/\(instanceID)/backups/\(backupID)/links", json: #"{"expiration": 300}"#)
                let link = try #require((links.json["links"] as? [[String: Any]])?.first?["link"] as? String)
                let path = String(link.dropFirst("http://localhost".count))
                clock.advance(299)
                #expect(try await server.raw(.get, path).status == .ok)
                clock.advance(2)
                let expired = try await server.raw(.get, path)
                #expect(expired.status == .forbidden)
                #expect(expired.errorCode == "DCS.2003")
            }
        }
    }

    @Test("Deleting an instance deletes its backups: records marked deleted, files removed, links dead")
    func instanceDeletion() async throws {
        try await RedisServer.withServer(extraArguments: Self.redisArguments(diskless: "no")) { redis in
            try await TestServer.run { server in
                let instanceID = try await Self.adopt(server, redis)
                let backupID = try #require(try await Self.requestBackup(server, instanceID).json["backup_id"] as? String)
                #expect(try await server.parts.worker.runOnce()?.status == .succeeded)
                let links = try await server.signed(
                    .post, "/v2/\(server.projectID)/instances/\(instanceID)/backups/\(backupID)/links", json: #"{"expiration": 300}"#)
                let link = try #require((links.json["links"] as? [[String: Any]])?.first?["link"] as? String)
                let key = "dcs/\(server.projectID)/\(instanceID)/\(backupID).rdb"
                #expect(await server.parts.store.blobs.exists(key: key))
                #expect(try await server.signed(.delete, "/v2/\(server.projectID)/instances/\(instanceID)").status == .noContent)
                #expect(try await server.signed(.get, "/v2/\(server.projectID)/instances/\(instanceID)").status == .notFound)
                let removal = try #require(try await server.parts.worker.runOnce())
                #expect(removal.kind == "dcs.instance.delete" && removal.status == .succeeded)
                #expect(!(await server.parts.store.blobs.exists(key: key)))
                #expect(try await server.raw(.get, String(link.dropFirst("http://localhost".count))).status == .forbidden)
                let record = try await server.parts.store.dcs.backup(projectID: server.projectID, instanceID: instanceID, id: backupID)
                #expect(record?.status == .deleted)
            }
        }
    }

    @Test("A silent master fails the backup after the idle timeout with dcs.08.0002")
    func idleTimeout() async throws {
        try await RedisServer.withServer(extraArguments: ["--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "5"]) { redis in
            try await TestServer.run(configure: { $0.backupIdleTimeout = .milliseconds(400) }) { server in
                let instanceID = try await Self.adopt(server, redis)
                let backupID = try #require(try await Self.requestBackup(server, instanceID).json["backup_id"] as? String)
                #expect(try await server.parts.worker.runOnce()?.status == .failed)
                let record = try await Self.record(server, instanceID, backupID)
                #expect(record["error_code"] as? String == "dcs.08.0002")
            }
        }
    }

    @Test("A backup whose worker died is failed on recovery, never left backuping")
    func crashRecovery() async throws {
        try await RedisServer.withServer(extraArguments: Self.redisArguments(diskless: "yes")) { redis in
            try await TestServer.run { server in
                let instanceID = try await Self.adopt(server, redis)
                let backupID = try #require(try await Self.requestBackup(server, instanceID).json["backup_id"] as? String)
                let store = server.parts.store
                let now = Date()
                let job = try #require(
                    try await store.jobs.claim(kinds: ["dcs.backup"], owner: "crashed", now: now, leaseUntil: now.addingTimeInterval(-1)))
                var record = try #require(try await store.dcs.backup(projectID: server.projectID, instanceID: instanceID, id: backupID))
                record.status = .backuping
                try await store.dcs.updateBackup(record)
                // It died just after its file became visible, before the record said so: the file must go too.
                let key = "dcs/\(server.projectID)/\(instanceID)/\(backupID).rdb"
                let file = try await store.blobs.makeWriter(key: key)
                try await file.write(contentsOf: Array("REDIS0011".utf8))
                _ = try await file.commit()
                #expect(try await server.parts.worker.recoverExpiredJobs() == 1)
                #expect(try await store.jobs.job(id: job.id)?.status == .failed)
                let listed = try await Self.record(server, instanceID, backupID)
                #expect(listed["status"] as? String == "failed")
                #expect(listed["error_code"] as? String == "dcs.08.0002")
                #expect(!(await store.blobs.exists(key: key)), "no file outlives a failed backup")
                #expect(try await Self.requestBackup(server, instanceID).status == .ok, "the instance is free again")
            }
        }
    }

    /// A node stalled past its job's lease: recovery (another node) fails the backup while the job still runs, and the
    /// job then commits. Before, recovery removed the file and the job, resuming, wrote `succeed`: a record whose
    /// object is gone (the chaos campaign's "object of a finished record is missing"). Now the first to change the
    /// record decides; the job that lost removes what it committed.
    @Test("A job that outlived its lease: recovery's failure stands and the file committed after it goes")
    func stalledJobLosesToRecovery() async throws {
        try await RedisServer.withServer(extraArguments: Self.redisArguments(diskless: "yes")) { redis in
            let writer = try await redis.connect()
            try await RedisDataset.populate(writer, scale: 20)
            await writer.close()
            try await TestServer.run { server in
                let instanceID = try await Self.adopt(server, redis)
                let backupID = try #require(try await Self.requestBackup(server, instanceID).json["backup_id"] as? String)
                let store = server.parts.store
                let now = Date()
                // Claimed by a node whose lease then ran out while it worked.
                let job = try #require(
                    try await store.jobs.claim(kinds: ["dcs.backup"], owner: "stalled", now: now, leaseUntil: now.addingTimeInterval(-1)))
                let gated = CommitGate(store.blobs)
                let stalled = DCSBackupJob(store: store.dcs, blobs: gated, logger: JobRecoveryTests.logger, clock: { Date() })
                let run = Task { try await stalled.run(job) }
                try await gated.waitUntilCommitted()
                let key = "dcs/\(server.projectID)/\(instanceID)/\(backupID).rdb"
                #expect(await store.blobs.exists(key: key), "the stalled job's file is visible")
                // Recovery on another node, then the stalled job goes on.
                #expect(try await server.parts.worker.recoverExpiredJobs() == 1)
                gated.release()
                await #expect(throws: (any Error).self, "the stalled job learns it lost") { try await run.value }
                let listed = try await Self.record(server, instanceID, backupID)
                #expect(listed["status"] as? String == "failed")
                #expect(listed["error_code"] as? String == "dcs.08.0002")
                #expect(!(await store.blobs.exists(key: key)), "no file outlives a failed backup")
            }
        }
    }
}
