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
import Testing

/// Restores by hash slot against real servers: Redis Clusters of 3 and 4 masters, a single server and a
/// master/standby pair, started by the tests on loopback ports.
@Suite("DCS restores into and from clusters", .serialized, .timeLimit(.minutes(5)))
struct DCSClusterRestoreTests {
    /// Takes a backup of `instanceID` through the API and runs it; returns its id.
    static func backUp(_ server: TestServer, _ instanceID: String) async throws -> String {
        let created = try await server.signed(.post, "/v2/\(server.projectID)/instances/\(instanceID)/backups")
        let backupID = try #require(created.json["backup_id"] as? String, "\(String(buffer: created.body))")
        let job = try #require(try await server.parts.worker.runOnce())
        try #require(job.status == .succeeded, "\(job.error ?? "")")
        return backupID
    }

    /// Restores `backupID` into `targetID` (its own instance, or through a migration task) and runs the job.
    static func restore(_ server: TestServer, backupID: String, of sourceID: String, into targetID: String) async throws -> Job {
        let reply: TestServer.Reply
        if sourceID == targetID {
            reply = try await server.signed(.post, "/v2/\(server.projectID)/instances/\(targetID)/restores", json: #"{"backup_id": "\#(backupID)"}"#)
        } else {
            reply = try await server.signed(
                .post, "/v2/\(server.projectID)/migration-task",
                json: """
                    {"task_name": "copy-\(targetID.prefix(8))", "migration_type": "backupfile_import", "migration_method": "full_amount_migration", \
                    "backup_files": {"file_source": "backup_record", "backup_id": "\(backupID)"}, "target_instance": {"id": "\(targetID)"}}
                    """)
        }
        try #require(reply.status == .ok, "\(String(buffer: reply.body))")
        return try #require(try await server.parts.worker.runOnce())
    }

    /// The two snapshots hold the same keys with the same types and values, and a TTL where there was one.
    static func expectSame(_ actual: [String: RedisDataset.KeyState], _ expected: [String: RedisDataset.KeyState], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(actual.count == expected.count, sourceLocation: sourceLocation)
        let missing = Set(expected.keys).subtracting(actual.keys)
        let extra = Set(actual.keys).subtracting(expected.keys)
        #expect(missing.isEmpty, "missing \(missing.sorted().prefix(5))", sourceLocation: sourceLocation)
        #expect(extra.isEmpty, "unexpected \(extra.sorted().prefix(5))", sourceLocation: sourceLocation)
        let different = expected.filter { name, state in
            guard let now = actual[name] else { return false }
            return now.type != state.type || now.value != state.value || (now.pttl > 0) != (state.pttl > 0)
        }
        #expect(different.isEmpty, "different: \(different.keys.sorted().prefix(5))", sourceLocation: sourceLocation)
    }

    /// Waits (at most 30 s) until every replica holds as many keys as its master.
    static func waitForReplicas(_ cluster: RedisCluster) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        var last = ""
        while ContinuousClock.now < deadline {
            var caughtUp = true
            for master in try await cluster.currentMasters() {
                let masterKeys = try await Self.keyCount(master.server)
                for replica in try await cluster.replicas(of: master.server) where try await Self.keyCount(replica) != masterKeys {
                    caughtUp = false
                    last = "replica \(replica.port) of \(master.server.port) differs"
                }
            }
            if caughtUp { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        Issue.record("replicas did not catch up: \(last)")
    }

    static func keyCount(_ node: RedisServer) async throws -> Int {
        let connection = try await node.connect()
        defer { Task { await connection.close() } }
        return try await connection.command(["DBSIZE"]).integer.map(Int.init) ?? -1
    }

    @Test("A cluster backup restored into its own cluster after changes: every key as it was, the replicas follow")
    func restoreIntoSameCluster() async throws {
        try await RedisCluster.withCluster(password: "cluster-pw") { cluster in
            try await cluster.populateMixed(prefix: "base", count: 400)
            let before = try await cluster.snapshot()
            let roles = try await cluster.roles()
            try await TestServer.run { server in
                let instanceID = try await DCSClusterBackupTests.adopt(server, port: roles.replicas[0].port, password: "cluster-pw")
                let backupID = try await Self.backUp(server, instanceID)
                #expect(try await DCSBackupTests.record(server, instanceID, backupID)["is_support_restore"] as? String == "TRUE")
                // Changes after the backup: keys deleted, rewritten, added, on every shard.
                try await cluster.run((0..<100).map { ["DEL", "base:\($0):str"] })
                try await cluster.run((100..<200).map { ["SET", "base:\($0):str", "changed"] })
                try await cluster.populateMixed(prefix: "after", count: 50)
                #expect(try await cluster.snapshot() != before)

                let job = try await Self.restore(server, backupID: backupID, of: instanceID, into: instanceID)
                #expect(job.status == .succeeded, "\(job.error ?? "")")
                let restores = try await server.signed(.get, "/v2/\(server.projectID)/instances/\(instanceID)/restores")
                let record = try #require((restores.json["restore_record_response"] as? [[String: Any]])?.first)
                #expect(record["status"] as? String == "succeed")
                #expect(record["progress"] as? String == "100.00")
                Self.expectSame(try await cluster.snapshot(), before)
                try await Self.waitForReplicas(cluster)
                // The fence is down again: the application's user can write on every master.
                for master in try await cluster.currentMasters() {
                    let connection = try await master.server.connect()
                    #expect(try await connection.command(["ACL", "LIST"]).array?.compactMap(\.string).allSatisfy { !$0.contains("coffer-restore") } == true)
                    await connection.close()
                }
            }
        }
    }

    @Test("Into a cluster of 4 masters and into a single server; a single server's databases into a cluster's one")
    func acrossShapes() async throws {
        try await RedisCluster.withCluster(replicasPerMaster: 0, password: "shape-pw") { three in
            try await RedisCluster.withCluster(masters: 4, replicasPerMaster: 0, password: "shape-pw") { four in
                try await RedisServer.withServer(password: "shape-pw", extraArguments: DCSBackupTests.redisArguments(diskless: "yes")) { single in
                    try await three.populateMixed(prefix: "three", count: 300)
                    let before = try await three.snapshot()
                    try await four.populateMixed(prefix: "old", count: 20)
                    // The restore's fence closes the connections of the server's users: each check opens its own.
                    let populating = try await single.connect()
                    try await RedisDataset.populate(populating, scale: 30)
                    let singleBefore = try await RedisDataset.snapshot(populating)
                    await populating.close()
                    #expect(singleBefore.keys.sorted() == [0, 3])
                    try await TestServer.run { server in
                        let threeID = try await DCSClusterBackupTests.adopt(server, port: three.nodes[0].port, password: "shape-pw", name: "three")
                        let fourID = try await DCSClusterBackupTests.adopt(server, port: four.nodes[1].port, password: "shape-pw", name: "four")
                        let singleID = try await DCSClusterBackupTests.adopt(server, port: single.port, password: "shape-pw", name: "single")
                        let clusterBackup = try await Self.backUp(server, threeID)
                        let singleBackup = try await Self.backUp(server, singleID)

                        // 3 shards' files into 4 masters: every key lands on the master of its slot.
                        let intoFour = try await Self.restore(server, backupID: clusterBackup, of: threeID, into: fourID)
                        #expect(intoFour.status == .succeeded, "\(intoFour.error ?? "")")
                        Self.expectSame(try await four.snapshot(), before)
                        for master in try await four.currentMasters() {
                            let node = try await master.server.connect()
                            let keys = try await RedisDataset.snapshot(node, databases: 0..<1)[0] ?? [:]
                            await node.close()
                            #expect(keys.keys.allSatisfy { key in master.slots.contains { $0.contains(RedisSlot.slot(of: key)) } })
                            #expect(!keys.isEmpty)
                        }

                        // A cluster backup into a single server: every shard's keys in database 0, the rest emptied.
                        let intoSingle = try await Self.restore(server, backupID: clusterBackup, of: threeID, into: singleID)
                        #expect(intoSingle.status == .succeeded, "\(intoSingle.error ?? "")")
                        let connection = try await single.connect()
                        let singleNow = try await RedisDataset.snapshot(connection)
                        await connection.close()
                        #expect(singleNow.keys.sorted() == [0])
                        Self.expectSame(singleNow[0] ?? [:], before)

                        // A single server's backup (databases 0 and 3) into a cluster: all of it in database 0.
                        let intoThree = try await Self.restore(server, backupID: singleBackup, of: singleID, into: threeID)
                        #expect(intoThree.status == .succeeded, "\(intoThree.error ?? "")")
                        let merged = (singleBefore[0] ?? [:]).merging(singleBefore[3] ?? [:]) { first, _ in first }
                        #expect(merged.count == (singleBefore[0]?.count ?? 0) + (singleBefore[3]?.count ?? 0))
                        Self.expectSame(try await three.snapshot(), merged)

                        // One name in two databases cannot become one key of database 0: the restore fails and the
                        // cluster keeps what it held.
                        let duplicating = try await single.connect()
                        _ = try await duplicating.commandExpectingSuccess(["SET", "twice", "in-0"])
                        _ = try await duplicating.commandExpectingSuccess(["SELECT", "5"])
                        _ = try await duplicating.commandExpectingSuccess(["SET", "twice", "in-5"])
                        await duplicating.close()
                        let twiceBackup = try await Self.backUp(server, singleID)
                        let refused = try await Self.restore(server, backupID: twiceBackup, of: singleID, into: threeID)
                        #expect(refused.status == .succeeded, "the job ends; its record says failed")
                        let payload = try #require(try JSONSerialization.jsonObject(with: Data(refused.payload.utf8)) as? [String: Any])
                        let task = try await server.parts.store.dcs.restore(projectID: server.projectID, id: try #require(payload["restore_id"] as? String))
                        #expect(task?.status == .failed)
                        #expect(task?.errorCode == .synchronization)
                        Self.expectSame(try await three.snapshot(), merged)
                    }
                }
            }
        }
    }

    @Test("A master killed mid-restore: the restore fails and every shard is rolled back")
    func masterKilledMidRestore() async throws {
        try await RedisCluster.withCluster(password: "kill-pw") { cluster in
            let backedUp = try await cluster.populate(keys: 300_000, prefix: "backup", valueBytes: 64)
            #expect(backedUp.count == 300_000)
            let roles = try await cluster.roles()
            try await TestServer.run { server in
                let instanceID = try await DCSClusterBackupTests.adopt(server, port: roles.replicas[0].port, password: "kill-pw")
                let backupID = try await Self.backUp(server, instanceID)
                // The data the restore would replace: a small, different set of keys on every shard.
                for master in try await cluster.currentMasters() {
                    let connection = try await master.server.connect()
                    _ = try await connection.commandExpectingSuccess(["FLUSHALL"])
                    await connection.close()
                }
                try await cluster.populateMixed(prefix: "current", count: 200)
                let current = try await cluster.snapshot()

                let reply = try await server.signed(
                    .post, "/v2/\(server.projectID)/instances/\(instanceID)/restores", json: #"{"backup_id": "\#(backupID)"}"#)
                let restoreID = try #require(reply.json["restore_id"] as? String, "\(String(buffer: reply.body))")
                let running = Task { try await server.parts.worker.runOnce() }
                // Once every master is flushed and written to, one of them dies.
                let victim = try #require(try await cluster.currentMasters().first?.server)
                let deadline = ContinuousClock.now + .seconds(60)
                while ContinuousClock.now < deadline {
                    let record = try await server.parts.store.dcs.restore(projectID: server.projectID, id: restoreID)
                    if record?.checkpoint?.contains(#""phase":"writing""#) == true || record?.status.isFinal == true { break }
                    try await Task.sleep(for: .milliseconds(10))
                }
                let written = try await server.parts.store.dcs.restore(projectID: server.projectID, id: restoreID)
                try #require(written?.status == .restoring, "the restore ended before the kill: \(String(describing: written?.status))")
                try await Task.sleep(for: .milliseconds(150))
                victim.kill()
                let job = try #require(try await running.value)
                #expect(job.status == .succeeded, "the job itself ends; its record says failed")
                let record = try #require(try await server.parts.store.dcs.restore(projectID: server.projectID, id: restoreID))
                #expect(record.status == .failed)
                #expect(record.errorCode != nil)
                // The victim's replica took its slots over; every shard holds again what it held before.
                #expect(try await cluster.currentMasters().allSatisfy { $0.server.port != victim.port })
                Self.expectSame(try await cluster.snapshot(), current)
                let files = try FileManager.default.subpathsOfDirectory(atPath: server.dataDirectory).filter { $0.contains("dcs-restore") && $0.hasSuffix(".rdb") }
                #expect(files.isEmpty, "safety snapshots left: \(files)")
            }
        }
    }

    @Test("Master/standby adopted through the standby: the restore goes to the master and the standby follows")
    func masterStandbyRestore() async throws {
        try await RedisPair.withPair(password: "pair-pw") { pair in
            let populating = try await pair.master.connect()
            try await RedisDataset.populate(populating, scale: 60)
            await populating.close()
            try await pair.waitUntilLinked(timeout: .seconds(30))
            // The backup is the standby's snapshot: its streams' delivery and seen times are the standby's own.
            let standbyBefore = try await pair.standby.connect()
            let before = try await RedisDataset.snapshot(standbyBefore)
            await standbyBefore.close()
            try await TestServer.run { server in
                let instanceID = try await DCSClusterBackupTests.adopt(server, port: pair.standby.port, password: "pair-pw", name: "pair-01")
                let backupID = try await Self.backUp(server, instanceID)
                let changing = try await pair.master.connect()
                _ = try await changing.commandExpectingSuccess(["FLUSHALL"])
                _ = try await changing.commandExpectingSuccess(["SET", "after-backup", "1"])
                await changing.close()
                let job = try await Self.restore(server, backupID: backupID, of: instanceID, into: instanceID)
                #expect(job.status == .succeeded, "\(job.error ?? "")")
                let restores = try await server.signed(.get, "/v2/\(server.projectID)/instances/\(instanceID)/restores")
                #expect((restores.json["restore_record_response"] as? [[String: Any]])?.first?["status"] as? String == "succeed")
                let writer = try await pair.master.connect()
                let after = try await RedisDataset.snapshot(writer)
                await writer.close()
                #expect(after.keys.sorted() == before.keys.sorted())
                for database in before.keys { Self.expectSame(after[database] ?? [:], before[database] ?? [:]) }
                // The standby is still the master's replica and holds the same keys.
                let standby = try await pair.standby.connect()
                let deadline = ContinuousClock.now + .seconds(30)
                var standbyNow: [Int: [String: RedisDataset.KeyState]] = [:]
                while ContinuousClock.now < deadline {
                    standbyNow = try await RedisDataset.snapshot(standby)
                    if standbyNow.mapValues(\.count) == before.mapValues(\.count) { break }
                    try await Task.sleep(for: .milliseconds(200))
                }
                #expect(try await standby.info("replication").value("role", in: "replication") == "slave")
                for database in before.keys { Self.expectSame(standbyNow[database] ?? [:], before[database] ?? [:]) }
                await standby.close()
            }
        }
    }
}
