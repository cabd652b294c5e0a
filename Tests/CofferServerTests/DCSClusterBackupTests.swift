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

/// Cluster and master/standby instances against real servers: a Redis Cluster of 3 masters + 3 replicas and a
/// master/standby pair, started by the tests on loopback ports.
@Suite("DCS cluster and master/standby backups", .serialized, .timeLimit(.minutes(4)))
struct DCSClusterBackupTests {
    static func adopt(_ server: TestServer, port: Int, password: String?, name: String = "cluster-01", extra: String = "") async throws -> String {
        let created = try await server.signed(
            .post, "/v2/\(server.projectID)/instances", json: DCSInstanceTests.createBody(name: name, port: port, password: password, extra: extra))
        try #require(created.status == .ok, "\(String(buffer: created.body))")
        return try #require((created.json["instances"] as? [[String: Any]])?.first?["instance_id"] as? String)
    }

    /// One downloaded shard file: its name, its keys (database 0 only in a cluster) and its size.
    struct Downloaded {
        var fileName: String
        var keys: [String]
        var size: Int
    }

    /// Requests links, downloads every file, checks each with `redis-check-rdb` and reads its keys.
    static func downloadAll(_ server: TestServer, _ instanceID: String, _ backupID: String) async throws -> [Downloaded] {
        let links = try await server.signed(
            .post, "/v2/\(server.projectID)/instances/\(instanceID)/backups/\(backupID)/links", json: #"{"expiration": 600}"#)
        try #require(links.status == .ok, "\(String(buffer: links.body))")
        let items = try #require(links.json["links"] as? [[String: Any]])
        let directory = try TemporaryDirectory(prefix: "coffer-cluster-download")
        defer { directory.remove() }
        var files: [Downloaded] = []
        for item in items {
            let fileName = try #require(item["file_name"] as? String)
            let link = try #require(item["link"] as? String)
            let download = try await server.raw(.get, String(link.dropFirst("http://localhost".count)))
            try #require(download.status == .ok)
            let file = directory.file(fileName)
            try Data(download.body.readableBytesView).write(to: file)
            let check = try ProcessRunner.run("redis-check-rdb", [file.path])
            #expect(check.status == 0, "\(fileName): \(check.output)")
            var remaining: ByteBuffer? = download.body
            var reader = RDBRecordReader(nextChunk: {
                defer { remaining = nil }
                return remaining
            })
            var keys: [String] = []
            while let item = try await reader.next() {
                if case .record(let record) = item {
                    #expect(record.database == 0)
                    keys.append(String(buffer: record.key))
                }
            }
            files.append(Downloaded(fileName: fileName, keys: keys, size: download.body.readableBytes))
        }
        return files
    }

    /// `redis_<ip>_<port>_<start>-<end>_<yyyyMMddHHmmss>.rdb` → the slot range.
    static func slotRange(of fileName: String) throws -> ClosedRange<Int> {
        let parts = fileName.dropLast(".rdb".count).split(separator: "_")
        try #require(parts.count == 5 && parts[0] == "redis" && parts[1] == "127.0.0.1" && Int(parts[2]) != nil && parts[4].count == 14)
        let bounds = parts[3].split(separator: "-").compactMap { Int($0) }
        try #require(bounds.count == 2)
        return bounds[0]...bounds[1]
    }

    @Test("Adopting a cluster through a replica's address: show reports the cluster, its shards and replicas")
    func adoptThroughReplica() async throws {
        try await RedisCluster.withCluster(password: "cluster-pw") { cluster in
            let replica = try #require(try await cluster.roles().replicas.first)
            try await TestServer.run { server in
                let instanceID = try await Self.adopt(server, port: replica.port, password: "cluster-pw")
                let shown = try await server.signed(.get, "/v2/\(server.projectID)/instances/\(instanceID)")
                #expect(shown.status == .ok)
                #expect(shown.json["status"] as? String == "RUNNING")
                #expect(shown.json["cache_mode"] as? String == "cluster")
                #expect(shown.json["sharding_count"] as? Int == 3)
                #expect(shown.json["replica_count"] as? Int == 2)
                let backends = try #require(shown.json["backend_addrs"] as? String).split(separator: ",")
                #expect(Set(backends) == Set(cluster.nodes.map { "127.0.0.1:\($0.port)" }))
                #expect((shown.json["ip"] as? String)?.split(separator: ",").count == 3)
                let listed = try await server.signed(.get, "/v2/\(server.projectID)/instances")
                #expect((listed.json["instances"] as? [[String: Any]])?.first?["cache_mode"] as? String == "cluster")
                // A user without `CLUSTER SHARDS` (as on Redis before 7): the topology comes from `CLUSTER NODES`.
                for node in cluster.nodes {
                    let connection = try await node.connect()
                    _ = try await connection.commandExpectingSuccess(["ACL", "SETUSER", "nodes-only", "on", ">nodes-pw", "~*", "&*", "+@all", "-cluster|shards"])
                    #expect(try await connection.command(["AUTH", "nodes-only", "nodes-pw"]).string == "OK")
                    #expect(try await connection.command(["CLUSTER", "SHARDS"]).errorMessage?.hasPrefix("NOPERM") == true)
                    await connection.close()
                }
                let viaNodes = try await Self.adopt(
                    server, port: cluster.nodes[0].port, password: "nodes-pw", name: "cluster-02", extra: #", "access_user": "nodes-only""#)
                let shownViaNodes = try await server.signed(.get, "/v2/\(server.projectID)/instances/\(viaNodes)")
                #expect(shownViaNodes.json["cache_mode"] as? String == "cluster")
                #expect(shownViaNodes.json["sharding_count"] as? Int == 3)
                #expect(shownViaNodes.json["backend_addrs"] as? String == shown.json["backend_addrs"] as? String)
                #expect(shownViaNodes.json["status"] as? String == "RUNNING")
                // A cluster is backed up as RDB, one file per shard.
                let aof = try await server.signed(
                    .post, "/v2/\(server.projectID)/instances/\(instanceID)/backups", json: #"{"backup_format": "aof"}"#)
                #expect(aof.status == .badRequest)
            }
        }
    }

    @Test("A cluster backup with writes running: one link per shard, each a valid RDB of exactly its shard's keys")
    func backupWithWrites() async throws {
        try await RedisCluster.withCluster(password: "cluster-pw") { cluster in
            let base = Set(try await cluster.populate(keys: 6000, prefix: "base"))
            let roles = try await cluster.roles()
            try await TestServer.run { server in
                let instanceID = try await Self.adopt(server, port: roles.replicas[0].port, password: "cluster-pw")
                // Writes keep landing on every master while the shards are pulled.
                let stop = StopFlag()
                let writer = Task {
                    var round = 0
                    var written: Set<String> = []
                    while !stop.value.load(ordering: .relaxed) {
                        written.formUnion(try await cluster.populate(keys: 50, prefix: "live\(round)"))
                        round += 1
                    }
                    return written
                }
                let created = try await server.signed(.post, "/v2/\(server.projectID)/instances/\(instanceID)/backups")
                let backupID = try #require(created.json["backup_id"] as? String)
                let job = try #require(try await server.parts.worker.runOnce())
                stop.value.store(true, ordering: .relaxed)
                let live = try await writer.value
                #expect(job.status == .succeeded, "\(job.error ?? "")")
                let record = try #require(try await server.parts.store.dcs.backup(projectID: server.projectID, instanceID: instanceID, id: backupID))
                #expect(record.status == .succeed)
                let shards = try #require(record.shards)
                #expect(shards.count == 3)
                // Every shard had a healthy replica: every snapshot came from one, none was retried.
                #expect(shards.allSatisfy { $0.sourceRole == .replica && !$0.retried })
                #expect(Set(shards.map(\.sourcePort)).isSubset(of: Set(roles.replicas.map(\.port))))
                #expect(record.size == shards.map(\.size).reduce(0, +))

                let files = try await Self.downloadAll(server, instanceID, backupID)
                #expect(files.count == 3)
                #expect(files.map(\.size).reduce(0, +) == Int(record.size))
                var union: Set<String> = []
                for file in files {
                    let range = try Self.slotRange(of: file.fileName)
                    let outside = file.keys.filter { !range.contains(RedisSlot.slot(of: $0)) }
                    #expect(outside.isEmpty, "\(file.fileName) holds keys of other slots: \(outside.prefix(3))")
                    union.formUnion(file.keys)
                }
                #expect(files.map(\.keys.count).reduce(0, +) == union.count)
                #expect(base.isSubset(of: union))
                #expect(union.subtracting(base).isSubset(of: live))
                let ranges = try files.map { try Self.slotRange(of: $0.fileName) }
                #expect(ranges.map(\.count).reduce(0, +) == 16384)
                #expect(shards.map(\.keys).reduce(0, +) == union.count)
                // Restored by slot (DCSClusterRestoreTests).
                #expect(try await DCSBackupTests.record(server, instanceID, backupID)["is_support_restore"] as? String == "TRUE")
            }
        }
    }

    @Test("A replica killed mid-backup: its shard is taken again from the master, the backup is whole")
    func replicaKilledMidBackup() async throws {
        try await RedisCluster.withCluster(password: "cluster-pw") { cluster in
            let base = Set(try await cluster.populate(keys: 6000, prefix: "base"))
            let roles = try await cluster.roles()
            let victim = roles.replicas[0]
            // About 2000 keys a shard at 2 ms each: the victim's snapshot takes seconds, long enough to kill it mid-way.
            let slow = try await victim.connect()
            _ = try await slow.commandExpectingSuccess(["CONFIG", "SET", "rdb-key-save-delay", "2000"])
            await slow.close()
            try await TestServer.run { server in
                let instanceID = try await Self.adopt(server, port: roles.masters[0].port, password: "cluster-pw")
                let created = try await server.signed(.post, "/v2/\(server.projectID)/instances/\(instanceID)/backups")
                let backupID = try #require(created.json["backup_id"] as? String)
                let running = Task { try await server.parts.worker.runOnce() }
                try await Self.waitForSnapshotChild(victim)
                victim.kill()
                let job = try #require(try await running.value)
                #expect(job.status == .succeeded, "\(job.error ?? "")")
                let record = try #require(try await server.parts.store.dcs.backup(projectID: server.projectID, instanceID: instanceID, id: backupID))
                let shards = try #require(record.shards)
                let retried = shards.filter(\.retried)
                #expect(retried.count == 1)
                #expect(retried.first?.sourceRole == .master)
                #expect(!shards.contains { $0.sourcePort == victim.port })
                let files = try await Self.downloadAll(server, instanceID, backupID)
                #expect(Set(files.flatMap(\.keys)) == base)
            }
        }
    }

    @Test("A shard with no node left mid-backup: the backup fails and no file remains")
    func shardLostMidBackup() async throws {
        try await RedisCluster.withCluster(password: "cluster-pw") { cluster in
            try await cluster.populate(keys: 6000, prefix: "base")
            let roles = try await cluster.roles()
            let victim = roles.replicas[0]
            let slow = try await victim.connect()
            _ = try await slow.commandExpectingSuccess(["CONFIG", "SET", "rdb-key-save-delay", "2000"])
            await slow.close()
            // The victim's master is slow too, so that the whole shard is gone before it could serve the retry.
            var found: RedisServer?
            for candidate in roles.masters {
                if try await cluster.replicas(of: candidate).contains(where: { $0.port == victim.port }) { found = candidate }
            }
            let master = try #require(found)
            try await TestServer.run { server in
                let instanceID = try await Self.adopt(server, port: roles.masters[0].port, password: "cluster-pw")
                let created = try await server.signed(.post, "/v2/\(server.projectID)/instances/\(instanceID)/backups")
                let backupID = try #require(created.json["backup_id"] as? String)
                let running = Task { try await server.parts.worker.runOnce() }
                try await Self.waitForSnapshotChild(victim)
                master.kill()
                victim.kill()
                let job = try #require(try await running.value)
                #expect(job.status == .failed)
                let record = try #require(try await server.parts.store.dcs.backup(projectID: server.projectID, instanceID: instanceID, id: backupID))
                #expect(record.status == .failed)
                #expect(record.errorCode == BackupFailure.redis.rawValue)
                for index in 0..<3 {
                    #expect(!(await server.parts.store.blobs.exists(key: "dcs/\(server.projectID)/\(instanceID)/\(backupID).shard-\(index).rdb")))
                }
                let incoming = URL(fileURLWithPath: server.dataDirectory).appendingPathComponent("blobs/incoming")
                let left = (try? FileManager.default.contentsOfDirectory(atPath: incoming.path)) ?? []
                #expect(left.isEmpty, "\(left)")
                // The shard has no node left: show says ERROR and why.
                let shown = try await server.signed(.get, "/v2/\(server.projectID)/instances/\(instanceID)")
                #expect(shown.json["status"] as? String == "ERROR")
                let reason = try #require(shown.json["status_reason"] as? String)
                #expect(reason.contains("127.0.0.1:\(master.port)") && reason.contains("127.0.0.1:\(victim.port)"), "\(reason)")
            }
        }
    }

    @Test("Master/standby adopted through the standby: show says ha, the backup is taken from the standby")
    func masterStandby() async throws {
        try await RedisPair.withPair(password: "pair-pw") { pair in
            let writer = try await pair.master.connect()
            try await RedisDataset.populate(writer, scale: 100)
            let written = try #require(try await writer.info("keyspace").dbKeyCounts).values.map(\.keys).reduce(0, +)
            await writer.close()
            try await pair.waitUntilLinked(timeout: .seconds(30))
            try await TestServer.run { server in
                let instanceID = try await Self.adopt(server, port: pair.standby.port, password: "pair-pw", name: "pair-01")
                let shown = try await server.signed(.get, "/v2/\(server.projectID)/instances/\(instanceID)")
                #expect(shown.json["status"] as? String == "RUNNING")
                #expect(shown.json["cache_mode"] as? String == "ha")
                #expect(shown.json["sharding_count"] as? Int == 1)
                #expect(shown.json["replica_count"] as? Int == 2)
                #expect(Set(try #require(shown.json["backend_addrs"] as? String).split(separator: ",")) == ["127.0.0.1:\(pair.master.port)", "127.0.0.1:\(pair.standby.port)"])
                let syncsBefore = try await Self.fullSyncs(pair.master)
                let created = try await server.signed(.post, "/v2/\(server.projectID)/instances/\(instanceID)/backups")
                let backupID = try #require(created.json["backup_id"] as? String)
                let job = try #require(try await server.parts.worker.runOnce())
                #expect(job.status == .succeeded, "\(job.error ?? "")")
                // The standby served the snapshot; the master forked nothing for it.
                #expect(try await Self.fullSyncs(pair.standby) == 1)
                #expect(try await Self.fullSyncs(pair.master) == syncsBefore)
                let record = try #require(try await server.parts.store.dcs.backup(projectID: server.projectID, instanceID: instanceID, id: backupID))
                #expect(record.shards?.first?.sourcePort == pair.standby.port)
                #expect(record.shards?.first?.sourceRole == .replica)
                #expect(record.isSupportRestore)
                let links = try await server.signed(
                    .post, "/v2/\(server.projectID)/instances/\(instanceID)/backups/\(backupID)/links", json: #"{"expiration": 600}"#)
                let items = try #require(links.json["links"] as? [[String: Any]])
                #expect(items.count == 1)
                let link = try #require(items.first?["link"] as? String)
                let download = try await server.raw(.get, String(link.dropFirst("http://localhost".count)))
                #expect(download.status == .ok)
                #expect(download.body.readableBytes == Int(record.size))
                #expect(record.shards?.first?.keys == written)
            }
        }
    }

    @Test("A cluster backup interrupted by a crash: recovery removes the shard files already committed")
    func crashLeavesNoShardFile() async throws {
        try await TestServer.run { server in
            let store = server.parts.store
            var instance = DCSInstance(
                id: Identifiers.uuid(), projectID: server.projectID, name: "crashed", engine: "Redis", requestedEngineVersion: "7.0",
                host: "127.0.0.1", port: 1, accessUser: nil, password: nil, description: nil, status: "RUNNING", capacityGB: 1, specCode: nil,
                backupPolicy: nil, extra: [:], createdAt: Date(), updatedAt: Date())
            let node = DCSTopology.Node(host: "127.0.0.1", port: 1, role: .master, healthy: true, reachable: true)
            instance.topology = DCSTopology(
                kind: .cluster, shards: [.init(slots: [.init(start: 0, end: 16383)], master: node, replicas: [])], readAt: Date())
            try await store.dcs.insertInstance(instance)
            var record = DCSBackupRecord(
                id: Identifiers.uuid(), projectID: server.projectID, instanceID: instance.id, name: "backup_x", backupType: .manual,
                backupFormat: .rdb, status: .backuping, progress: .zero, size: 0, remark: nil, errorCode: nil, period: nil,
                isSupportRestore: false, createdAt: Date(), updatedAt: Date(), executionAt: Date(), blobKey: nil, sha256: nil)
            try await store.dcs.insertBackup(record)
            // Two shards had committed when the process died; the record lists none of them.
            let keys = [0, 7].map { "dcs/\(server.projectID)/\(instance.id)/\(record.id).shard-\($0).rdb" }
            for key in keys {
                let writer = try await store.blobs.makeWriter(key: key)
                try await writer.write(contentsOf: Array("REDIS0010".utf8))
                _ = try await writer.commit()
                #expect(await store.blobs.exists(key: key))
            }
            let handler = DCSBackupJob(store: store.dcs, blobs: store.blobs, logger: Logger(label: "test"), clock: { Date() })
            let job = Job.new(
                kind: JobKind.dcsBackup.rawValue, projectID: server.projectID, resourceID: instance.id,
                payload: #"{"backup_id": "\#(record.id)"}"#, now: Date())
            await handler.jobFailed(job, reason: "lease expired")
            for key in keys { #expect(!(await store.blobs.exists(key: key)), "\(key)") }
            record = try #require(try await store.dcs.backup(projectID: server.projectID, instanceID: instance.id, id: record.id))
            #expect(record.status == .failed)
        }
    }

    static func fullSyncs(_ node: RedisServer) async throws -> Int {
        let connection = try await node.connect()
        let info = try await connection.info("stats")
        await connection.close()
        return Int(info.value("sync_full", in: "stats") ?? "") ?? -1
    }

    /// Waits (at most 30 s) until `node` forks for a snapshot (its RDB child runs).
    static func waitForSnapshotChild(_ node: RedisServer) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let connection = try await node.connect()
            let info = try await connection.info("persistence")
            await connection.close()
            if info.value("rdb_bgsave_in_progress", in: "persistence") == "1" { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("the replica never started its snapshot")
    }
}

/// Tells the writer task of a test to stop.
private final class StopFlag: Sendable {
    let value = Atomic<Bool>(false)
}
