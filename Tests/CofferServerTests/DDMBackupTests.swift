import CofferCore
import CofferJobs
import CofferMySQL
import CofferOperations
import CofferServer
import CofferStorage
import CofferTestSupport
import Foundation
import HTTPTypes
import Logging
import NIOCore
import Testing

/// DDM over HTTP with real data nodes: data nodes, instance, sharded schema, consistent backups (seed 000),
/// list, delete, jobs, and the failure paths.
@Suite("DDM backups over HTTP", .serialized, .timeLimit(.minutes(3)))
struct DDMBackupTests {
    /// Registers the nodes, creates an instance and a 4-shard schema; returns (instance id, node ids).
    static func setUp(_ server: TestServer, nodes: [MariaDBServer]) async throws -> (String, [String]) {
        let p = server.projectID
        var ids: [String] = []
        for (index, node) in nodes.enumerated() {
            let reply = try await server.signed(
                .post, "/v3/\(p)/data-nodes", json: #"{"name": "dn-\#(index)", "private_ip": "127.0.0.1", "port": \#(node.port)}"#)
            #expect(reply.status == .created)
            let id = try #require(reply.json["id"] as? String)
            #expect(Identifiers.isDDM(id, suffix: "in01"))
            ids.append(id)
        }
        let created = try await server.signed(
            .post, "/v1/\(p)/instances",
            json: #"{"instance": {"name": "ddm-proof", "flavor_id": "ddm.c6.large.2", "node_num": 2, "engine_id": "e1", "available_zones": ["az1"], "vpc_id": "v", "security_group_id": "s", "subnet_id": "n"}}"#)
        #expect(created.status == .ok)
        let instance = try #require(created.json["id"] as? String)
        #expect(Identifiers.isDDM(instance, suffix: "in09"))
        let used = ids.map { #"{"id": "\#($0)", "adminUser": "\#(MariaDBServer.adminUser)", "adminPassword": "\#(MariaDBServer.adminPassword)"}"# }
            .joined(separator: ", ")
        let schema = try await server.signed(
            .post, "/v1/\(p)/instances/\(instance)/databases",
            json: #"{"databases": [{"name": "shop", "shard_mode": "cluster", "shard_number": 4, "used_rds": [\#(used)]}]}"#)
        #expect(schema.status == .ok, "\(schema.json)")
        return (instance, ids)
    }

    /// Runs queued jobs until none is left (bounded: a job that keeps requeueing itself fails the test).
    static func drain(_ server: TestServer) async throws {
        for _ in 0..<50 {
            if try await server.parts.worker.runOnce() == nil { return }
        }
        Issue.record("jobs were still queued after 50 runs")
    }

    static func ddmFiles(_ server: TestServer) -> [String] {
        let root = server.dataDirectory + "/blobs/objects/ddm"
        return (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? []).filter { $0.hasSuffix(".zst") || $0.hasSuffix(".json") }
    }

    @Test("Data nodes, instance, schema, consistent backup, seed 000, list, jobs, delete", arguments: TestDatabase.available)
    func fullFlow(database: TestDatabase) async throws {
        try await MariaDBServer.withServers(2) { nodes in
            try await TestServer.run(database: database) { server in
                let p = server.projectID
                // Unreachable data node → 400 with a clear message.
                let closed = try FreePort.next()
                let unreachable = try await server.signed(
                    .post, "/v3/\(p)/data-nodes", json: #"{"name": "gone", "private_ip": "127.0.0.1", "port": \#(closed)}"#)
                #expect(unreachable.status == .badRequest)
                #expect(unreachable.errorCode == "DBS.280001")
                #expect((unreachable.json["error_msg"] as? String)?.contains("127.0.0.1:\(closed)") == true)

                let (instance, nodeIDs) = try await Self.setUp(server, nodes: nodes)
                let node = try await server.signed(.get, "/v3/\(p)/data-nodes/\(nodeIDs[0])")
                #expect(node.json["engine_name"] as? String == "mariadb")
                #expect((node.json["engine_version"] as? String)?.hasPrefix("10.") == true)
                // Shards spread round-robin, named as DDM names them.
                let onFirst = try await nodes[0].execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'shop%' ORDER BY 1")
                #expect(onFirst[0].rows.map { $0[0] } == ["shop_0000", "shop_0002"])
                try await nodes[0].execute("CREATE TABLE shop_0000.t (id INT PRIMARY KEY) ENGINE=InnoDB", "INSERT INTO shop_0000.t VALUES (1), (2)")

                // Wrong credentials → DBS.300114, nothing created.
                let wrong = try await server.signed(
                    .post, "/v1/\(p)/instances/\(instance)/databases",
                    json: #"{"databases": [{"name": "other", "shard_number": 2, "used_rds": [{"id": "\#(nodeIDs[0])", "adminUser": "coffer", "adminPassword": "nope"}, {"id": "\#(nodeIDs[1])", "adminUser": "coffer", "adminPassword": "nope"}]}]}"#)
                #expect(wrong.status == .badRequest)
                #expect(wrong.errorCode == "DBS.300114")
                #expect(wrong.json["errCode"] as? String == "DBS.300114")

                // A node used by a schema cannot be removed.
                let inUse = try await server.signed(.delete, "/v3/\(p)/data-nodes/\(nodeIDs[1])")
                #expect(inUse.status == .badRequest)

                // A second schema on node 0 with its own, narrower account: dumped separately, in the same cut.
                try await nodes[0].execute("CREATE USER 'other'@'%' IDENTIFIED BY 'Other-pw1'", "GRANT ALL ON `second\\_%`.* TO 'other'@'%'")
                let second = try await server.signed(
                    .post, "/v1/\(p)/instances/\(instance)/databases",
                    json: #"{"databases": [{"name": "second", "shard_mode": "single", "shard_number": 1, "used_rds": [{"id": "\#(nodeIDs[0])", "adminUser": "other", "adminPassword": "Other-pw1"}]}]}"#)
                #expect(second.status == .ok, "\(second.json)")

                // Backup: 202, and a second one while it runs → 409 DBS.200019.
                let started = try await server.signed(.post, "/v3/\(p)/instances/\(instance)/backups", json: #"{"name": "first"}"#)
                #expect(started.status == .accepted)
                let backupID = try #require(started.json["backup_id"] as? String)
                let jobID = try #require(started.json["job_id"] as? String)
                #expect(Identifiers.isDDM(backupID, suffix: "br09"))
                let busy = try await server.signed(.post, "/v3/\(p)/instances/\(instance)/backups")
                #expect(busy.status == .conflict)
                #expect(busy.errorCode == "DBS.200019")
                let running = try await server.signed(.get, "/v3/\(p)/jobs/\(jobID)")
                #expect((running.json["job"] as? [String: Any])?["status"] as? String == "Running")
                try await Self.drain(server)

                // Seed 000: exactly the five fields.
                let shown = try await server.signed(.get, "/v3/\(p)/instances/\(instance)/backups/\(backupID)")
                #expect(shown.status == .ok)
                #expect(Set(shown.json.keys) == ["id", "name", "instance_id", "instance_name", "related_data_nodes"])
                #expect(shown.json["id"] as? String == backupID)
                #expect(shown.json["name"] as? String == "first")
                #expect(shown.json["instance_name"] as? String == "ddm-proof")
                let related = try #require(shown.json["related_data_nodes"] as? [[String: Any]])
                #expect(related.map { $0["instance_id"] as? String } == nodeIDs)
                #expect(related.map { $0["instance_name"] as? String } == ["dn-0", "dn-1"])
                #expect(Set(related[0].keys) == ["instance_id", "instance_name"])
                let alias = try await server.signed(.get, "/v3/\(p)/backups/\(backupID)")
                #expect(alias.status == .ok)
                #expect(NSDictionary(dictionary: alias.json) == NSDictionary(dictionary: shown.json))

                // Files: one dump per node plus metadata, sizes and SHA-256 recorded and true.
                let stored = try #require(try await server.parts.store.ddm.backup(projectID: p, id: backupID))
                #expect(stored.status == .normal, "\(stored.error ?? "")")
                #expect(stored.files.count == 3)
                #expect(stored.files.map(\.databases) == [["shop_0000", "shop_0002"], ["shop_0001", "shop_0003"], ["second_0000"]])
                for file in stored.files {
                    let reader = try #require(try await server.parts.store.blobs.open(key: file.blobKey))
                    let data = try await reader.read(at: 0, upTo: Int(reader.size) + 1)
                    reader.close()
                    #expect(Int64(data.readableBytes) == file.size)
                    #expect(file.binlogFile.hasPrefix("binlog."))
                }
                #expect(stored.metadataKey != nil)

                // List: file_size in KB as a number, DDM times, status normal.
                let list = try await server.signed(.get, "/v3/\(p)/backups?instance_id=\(instance)&limit=10&offset=0")
                #expect(list.json["total"] as? Int == 1)
                let item = try #require((list.json["backups"] as? [[String: Any]])?.first)
                #expect(item["status"] as? String == "normal")
                #expect(item["backup_type"] as? String == "metadata")
                #expect((item["file_size"] as? NSNumber).map { $0.doubleValue > 0 } == true)
                #expect((item["created"] as? String)?.hasSuffix("+0000") == true)
                let badLimit = try await server.signed(.get, "/v3/\(p)/backups?limit=129")
                #expect(badLimit.errorCode == "DBS.280001")

                let job = try await server.signed(.get, "/v3/\(p)/jobs/\(jobID)")
                #expect((job.json["job"] as? [String: Any])?["status"] as? String == "Completed")
                let jobs = try await server.signed(.get, "/v3/\(p)/jobs?start_time=0&end_time=99999999999999&offset=0&limit=10")
                #expect((jobs.json["total"] as? Int ?? 0) >= 2)

                // The cut itself is always restorable (no replay), whatever the archive has published by now.
                let cut = try #require(try await server.parts.store.ddm.backup(projectID: p, id: backupID)).cutInstant
                let relatedDN = try await server.signed(
                    .get, "/v3/\(p)/instances/\(instance)/backups/related-dn?restore_time=\(WireTime.epochMilliseconds(cut))")
                #expect((relatedDN.json["related_data_nodes"] as? [[String: Any]])?.count == 2)

                // Errors: invalid ids → 400 DBS.280001, unknown → 404, both key pairs.
                let invalid = try await server.signed(.get, "/v3/\(p)/instances/\(instance)/backups/not-an-id")
                #expect(invalid.status == .badRequest)
                #expect(invalid.errorCode == "DBS.280001")
                #expect(invalid.json["errCode"] as? String == "DBS.280001")
                #expect(invalid.json["externalMessage"] != nil)
                let unknown = try await server.signed(.get, "/v3/\(p)/instances/\(instance)/backups/\(Identifiers.ddm(suffix: "br09"))")
                #expect(unknown.status == .notFound)
                #expect(unknown.errorCode?.hasPrefix("DBS.") == true)
                let unknownInstance = try await server.signed(.get, "/v3/\(p)/instances/\(Identifiers.ddm(suffix: "in09"))/backups/\(backupID)")
                #expect(unknownInstance.status == .notFound)

                // Delete → 202 {job_id}; files gone, status deleted.
                let deleted = try await server.signed(.delete, "/v3/\(p)/backups/\(backupID)")
                #expect(deleted.status == .accepted)
                #expect(Set(deleted.json.keys) == ["job_id"])
                try await Self.drain(server)
                #expect(Self.ddmFiles(server).isEmpty)
                let gone = try await server.signed(.get, "/v3/\(p)/instances/\(instance)/backups/\(backupID)")
                #expect(gone.status == .notFound)
                let after = try await server.signed(.get, "/v3/\(p)/backups?status=deleted")
                #expect(after.json["total"] as? Int == 1)

                let available = try await server.signed(.get, "/v3/\(p)/instances/\(instance)/available-data-nodes")
                #expect((available.json["data_nodes"] as? [[String: Any]])?.count == 2)
                #expect(available.json["total"] as? Int == 2)

                // Deleting the instance keeps the shard databases when asked to; then the nodes are free.
                let removed = try await server.signed(.delete, "/v1/\(p)/instances/\(instance)?delete_rds_data=false")
                #expect(removed.status == .ok)
                #expect(removed.json["id"] as? String == instance)
                let deleteJob = try #require(removed.json["job_id"] as? String)
                try await Self.drain(server)
                let finished = try await server.signed(.get, "/v3/\(p)/jobs/\(deleteJob)")
                #expect((finished.json["job"] as? [String: Any])?["name"] as? String == "DeleteInstance")
                #expect((finished.json["job"] as? [String: Any])?["status"] as? String == "Completed")
                #expect(try await server.signed(.get, "/v1/\(p)/instances/\(instance)").status == .notFound)
                let kept = try await nodes[0].execute("SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'shop_0000'")
                #expect(kept[0].value("n") == "1")
                let freed = try await server.signed(.delete, "/v3/\(p)/data-nodes/\(nodeIDs[1])")
                #expect(freed.status == .noContent)
            }
        }
    }

    @Test("A data node down at backup start or dying mid-dump: createfail, nothing left behind")
    func failures() async throws {
        try await MariaDBServer.withServers(2) { nodes in
            try await TestServer.run { server in
                let p = server.projectID
                let (instance, _) = try await Self.setUp(server, nodes: nodes)
                // Enough rows that the dump is still running when the node dies.
                try await nodes[1].execute(
                    "CREATE TABLE shop_0001.bulk (id INT PRIMARY KEY, note VARCHAR(100)) ENGINE=InnoDB",
                    "INSERT INTO shop_0001.bulk SELECT seq, REPEAT('x', 90) FROM seq_1_to_400000", database: "shop_0001")
                let started = try await server.signed(.post, "/v3/\(p)/instances/\(instance)/backups")
                let backupID = try #require(started.json["backup_id"] as? String)
                let victim = nodes[1]
                let killer = Task {
                    // Kill once the dump is streaming (its binlog snapshot is established within milliseconds).
                    while !Task.isCancelled {
                        if Self.incomingBytes(server) > 64 * 1024 {
                            victim.kill()
                            return
                        }
                        try? await Task.sleep(for: .milliseconds(5))
                    }
                }
                try await Self.drain(server)
                killer.cancel()
                let failed = try #require(try await server.parts.store.ddm.backup(projectID: p, id: backupID))
                #expect(failed.status == .createfail)
                #expect(Self.ddmFiles(server).isEmpty)
                #expect(Self.incomingBytes(server) == 0)
                let job = try await server.signed(.get, "/v3/\(p)/jobs/\(started.json["job_id"] as? String ?? "")")
                #expect((job.json["job"] as? [String: Any])?["status"] as? String == "Failed")

                // Node down when the backup starts.
                await victim.waitForExit()
                let again = try await server.signed(.post, "/v3/\(p)/instances/\(instance)/backups")
                #expect(again.status == .accepted)
                try await Self.drain(server)
                let second = try #require(try await server.parts.store.ddm.backup(projectID: p, id: again.json["backup_id"] as? String ?? ""))
                #expect(second.status == .createfail)
                #expect(second.error?.contains("127.0.0.1:\(victim.port)") == true)
                #expect(Self.ddmFiles(server).isEmpty)
                let list = try await server.signed(.get, "/v3/\(p)/backups?status=createfail")
                #expect(list.json["total"] as? Int == 2)
            }
        }
    }

    /// A DDM instance row inserted straight into the store (tests that need no data node behind it).
    static func instanceRow(projectID: String, name: String, createdAt: Date) -> DDMInstance {
        DDMInstance(
            id: Identifiers.ddm(suffix: "in09"), projectID: projectID, name: name, status: "RUNNING", flavorID: "f", nodeNum: 1,
            engineID: "e", availableZones: ["az1"], vpcID: "v", subnetID: "n", securityGroupID: "s", timeZone: "UTC",
            adminUserName: nil, enterpriseProjectID: nil, createdAt: createdAt, updatedAt: createdAt)
    }

    /// Bytes in the blob store's incoming folder (writes in progress).
    static func incomingBytes(_ server: TestServer) -> Int {
        let root = server.dataDirectory + "/blobs/incoming"
        return ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).reduce(0) { sum, name in
            sum + ((try? FileManager.default.attributesOfItem(atPath: root + "/" + name)[.size] as? Int) ?? 0)
        }
    }

    @Test("The daily automatic backup is queued for instances whose last one is a day old")
    func dailySchedule() async throws {
        try await TestServer.run { server in
            let p = server.projectID
            let store = server.parts.store
            let now = Date()
            let old = Self.instanceRow(projectID: p, name: "ddm-old", createdAt: now.addingTimeInterval(-2 * 86400))
            var young = old
            young.id = Identifiers.ddm(suffix: "in09")
            young.name = "ddm-young"
            young.createdAt = now.addingTimeInterval(-3600)
            try await store.ddm.insertInstance(old)
            try await store.ddm.insertInstance(young)
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let scheduler = DDMBackupScheduler(
                store: store.ddm, backups: server.parts.operations.ddmBackups, period: 86400, checkInterval: .seconds(60), logger: logger,
                clock: { now })
            #expect(try await scheduler.runOnce() == 1)
            // Queued (the instance is busy) and then recent: nothing more today.
            #expect(try await scheduler.runOnce() == 0)
            let page = try await store.ddm.backups(DDMBackupQuery(projectID: p, instanceID: old.id))
            #expect(page.items.map(\.backupType) == ["auto_metadata"])
            #expect(page.items.first?.name.hasPrefix("Backup-ddm-old-") == true)
            // The instance has no schema: the backup holds the metadata only, and succeeds.
            try await Self.drain(server)
            #expect(try await store.ddm.backup(projectID: p, id: page.items[0].id)?.status == .normal)
            #expect(try await scheduler.runOnce() == 0)
        }
    }

    @Test("A backup whose server crashed mid-dump ends createfail at recovery, with its written files removed")
    func crashRecovery() async throws {
        try await TestServer.run { server in
            let p = server.projectID
            let store = server.parts.store
            let now = Date()
            let instance = Self.instanceRow(projectID: p, name: "ddm-crash", createdAt: now)
            try await store.ddm.insertInstance(instance)
            let node = DataNode(
                id: Identifiers.ddm(suffix: "in01"), projectID: p, name: "dn", host: "127.0.0.1", port: 1, engineName: "mariadb",
                engineVersion: "10.11.19", createdAt: now)
            try await store.ddm.insertDataNode(node)
            try await store.ddm.insertSchema(
                DDMSchema(
                    projectID: p, instanceID: instance.id, name: "shop", shardMode: "cluster", shardNumber: 1,
                    parts: [.init(nodeID: node.id, adminUser: "u", adminPassword: "pw", databases: ["shop_0000"])], createdAt: now))
            let (backup, job) = try await server.parts.operations.ddmBackups.enqueue(
                instance: instance, name: nil, description: "", backupType: "metadata")
            // The crashed server had claimed the job and committed one node's dump before dying.
            _ = try await store.jobs.claim(kinds: [JobKind.ddmBackup.rawValue], owner: "crashed", now: now, leaseUntil: now.addingTimeInterval(-1))
            let writer = try await store.blobs.makeWriter(key: DDMBackupJob.dumpKey(backupID: backup.id, nodeID: node.id))
            try await writer.write(contentsOf: Data("partial".utf8))
            _ = try await writer.commit()
            #expect(Self.ddmFiles(server).count == 1)

            #expect(try await server.parts.worker.recoverExpiredJobs() >= 1)
            #expect(try await store.jobs.job(id: job.id)?.status == .failed)
            let failed = try #require(try await store.ddm.backup(projectID: p, id: backup.id))
            #expect(failed.status == .createfail)
            #expect(failed.error?.contains("lease expired") == true)
            #expect(Self.ddmFiles(server).isEmpty)
            // The instance is free again.
            let again = try await server.signed(.post, "/v3/\(p)/instances/\(instance.id)/backups")
            #expect(again.status == .accepted)
        }
    }

    /// A node stalled past its job's lease: recovery fails the backup while the dump still runs, and the job then
    /// commits the rest and would have written `normal` over `createfail` (or kept files recovery had just removed).
    @Test("A DDM job that outlived its lease: recovery's createfail stands and every file committed goes")
    func stalledJobLosesToRecovery() async throws {
        try await MariaDBServer.withServers(2) { nodes in
            try await TestServer.run { server in
                let p = server.projectID
                let store = server.parts.store
                let (instance, _) = try await Self.setUp(server, nodes: nodes)
                let accepted = try await server.signed(.post, "/v3/\(p)/instances/\(instance)/backups", json: #"{"name": "stalled"}"#)
                #expect(accepted.status == .accepted)
                let backupID = try #require(accepted.json["backup_id"] as? String)
                let now = Date()
                let job = try #require(
                    try await store.jobs.claim(kinds: [JobKind.ddmBackup.rawValue], owner: "stalled", now: now, leaseUntil: now.addingTimeInterval(-1)))
                let gated = CommitGate(store.blobs)
                let logger = JobRecoveryTests.logger
                let stalled = DDMBackupJob(store: store.ddm, blobs: gated, dumper: ConsistentDumper(logger: logger), logger: logger, clock: { Date() })
                let run = Task { try await stalled.run(job) }
                try await gated.waitUntilCommitted()
                #expect(Self.ddmFiles(server).count == 1, "the first node's dump is visible")
                #expect(try await server.parts.worker.recoverExpiredJobs() == 1)
                gated.release()
                await #expect(throws: (any Error).self, "the stalled job learns it lost") { try await run.value }
                let failed = try #require(try await store.ddm.backup(projectID: p, id: backupID))
                #expect(failed.status == .createfail)
                #expect(failed.error?.contains("lease expired") == true)
                #expect(Self.ddmFiles(server).isEmpty, "\(Self.ddmFiles(server))")
            }
        }
    }
}
