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

/// `POST …/backups/recovery` end to end with real `mariadbd` servers (binlog on): two source nodes with a 4-shard
/// schema, archived by a running `BinlogArchiveService`, two target nodes. Proves the consistent-point restore, the
/// point-in-time restore (rows before T there, the DELETE after T not applied, on every shard), the busy answers
/// while a recovery is queued, and the failures: time outside every window, bad relations, target holding data,
/// a corrupted archive segment (job failed with the reason, nothing left on the target).
@Suite("DDM recovery", .serialized, .timeLimit(.minutes(5)))
struct DDMRecoveryTests {
    /// Rows of every shard table on `server`, by database.
    static func rows(_ server: MariaDBServer, _ databases: [String]) async throws -> [String: [String]] {
        var result: [String: [String]] = [:]
        for database in databases {
            let set = try await server.execute("SELECT id FROM `\(database)`.t ORDER BY id")
            result[database] = set[0].rows.map { $0[0] ?? "" }
        }
        return result
    }

    static func databases(_ server: MariaDBServer) async throws -> [String] {
        try await server.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'shop%' ORDER BY 1")[0].rows.map {
            $0[0] ?? ""
        }
    }

    /// A DDM instance whose placeholder schema associates `nodes` (already registered) with it.
    static func targetInstance(_ server: TestServer, name: String, nodeIDs: [String]) async throws -> String {
        let p = server.projectID
        let created = try await server.signed(
            .post, "/v1/\(p)/instances",
            json: #"{"instance": {"name": "\#(name)", "flavor_id": "f", "node_num": 2, "engine_id": "e1", "available_zones": ["az1"], "vpc_id": "v", "security_group_id": "s", "subnet_id": "n"}}"#)
        let instance = try #require(created.json["id"] as? String)
        let used = nodeIDs.map { #"{"id": "\#($0)", "adminUser": "\#(MariaDBServer.adminUser)", "adminPassword": "\#(MariaDBServer.adminPassword)"}"# }
            .joined(separator: ", ")
        let schema = try await server.signed(
            .post, "/v1/\(p)/instances/\(instance)/databases",
            json: #"{"databases": [{"name": "\#(name.replacingOccurrences(of: "-", with: ""))", "shard_mode": "cluster", "shard_number": 2, "used_rds": [\#(used)]}]}"#)
        #expect(schema.status == .ok, "\(schema.json)")
        return instance
    }

    static func register(_ server: TestServer, _ node: MariaDBServer, name: String) async throws -> String {
        let reply = try await server.signed(
            .post, "/v3/\(server.projectID)/data-nodes", json: #"{"name": "\#(name)", "private_ip": "127.0.0.1", "port": \#(node.port)}"#)
        return try #require(reply.json["id"] as? String)
    }

    /// A registered source instance over `servers[0..<2]` (DDMBackupTests' 4-shard schema), two target nodes
    /// `servers[2..<4]` registered, and a target instance over them.
    struct Fixture {
        var source: String
        var sourceIDs: [String]
        var targetIDs: [String]
        var target: String
    }

    static func fixture(_ server: TestServer, _ servers: [MariaDBServer], targetName: String) async throws -> Fixture {
        let (source, sourceIDs) = try await DDMBackupTests.setUp(server, nodes: Array(servers[0..<2]))
        let targetIDs = [try await Self.register(server, servers[2], name: "dn-t0"), try await Self.register(server, servers[3], name: "dn-t1")]
        let target = try await Self.targetInstance(server, name: targetName, nodeIDs: targetIDs)
        return Fixture(source: source, sourceIDs: sourceIDs, targetIDs: targetIDs, target: target)
    }

    /// A running binlog archive of every registered data node (cancel the task to stop it).
    static func archiving(_ store: CofferStore) -> Task<Void, any Error> {
        let service = BinlogArchiveService(
            ddm: store.ddm, archive: store.binlogs, blobs: store.blobs, settings: BinlogArchiveTests.settings, leaseDuration: .seconds(3),
            logger: BinlogArchiveTests.logger, clock: { Date() })
        return Task { try await service.run() }
    }

    static func body(time: String, target: String, relations: [(String, String)]) -> String {
        let list = relations.map { #"{"source_instance_id": "\#($0.0)", "target_instance_id": "\#($0.1)"}"# }.joined(separator: ", ")
        return #"{"source": {"restore_time": \#(time)}, "target": {"instance_id": "\#(target)"}, "data_node_relations": [\#(list)]}"#
    }

    static func job(_ server: TestServer, _ id: String) async throws -> [String: Any] {
        let reply = try await server.signed(.get, "/v3/\(server.projectID)/jobs/\(id)")
        return try #require(reply.json["job"] as? [String: Any])
    }

    /// Sleeps until `margin` after the next whole second, so a write after it has a later binlog second.
    static func nextSecond(margin: Double = 0.15) async throws {
        let now = Date().timeIntervalSince1970
        try await Task.sleep(for: .milliseconds(Int(((now.rounded(.down) + 1 + margin) - now) * 1000)))
    }

    @Test("Consistent point, point in time, busy, and every refusal", arguments: TestDatabase.available)
    func recovery(database: TestDatabase) async throws {
        try await MariaDBServer.withServers(4) { servers in
            try await TestServer.run(database: database) { server in
                let p = server.projectID
                let store = server.parts.store
                let fixture = try await Self.fixture(server, servers, targetName: "ddm-target-a")
                let (source, sourceIDs, targetIDs, targetA) = (fixture.source, fixture.sourceIDs, fixture.targetIDs, fixture.target)
                let layout = [["shop_0000", "shop_0002"], ["shop_0001", "shop_0003"]]
                for (index, databases) in layout.enumerated() {
                    for database in databases {
                        try await servers[index].execute("CREATE TABLE `\(database)`.t (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB")
                        for id in 1...5 { try await servers[index].execute("INSERT INTO `\(database)`.t VALUES (\(id), 'before-backup')") }
                    }
                }
                let archiving = Self.archiving(store)
                defer { archiving.cancel() }

                // The backup: its consistent point is recorded to the millisecond while the locks were held.
                let started = try await server.signed(.post, "/v3/\(p)/instances/\(source)/backups", json: #"{"name": "cut"}"#)
                let backupID = try #require(started.json["backup_id"] as? String)
                try await DDMBackupTests.drain(server)
                let backup = try #require(try await store.ddm.backup(projectID: p, id: backupID))
                #expect(backup.status == .normal)
                let cut = try #require(backup.cutAt)
                #expect(cut >= backup.createdAt)
                let cutMillis = WireTime.epochMilliseconds(cut)

                // After the cut: rows 6…10, then T, then the disaster, then one more write so the archive reaches past T.
                try await Self.nextSecond()
                for (index, databases) in layout.enumerated() {
                    for database in databases {
                        for id in 6...10 { try await servers[index].execute("INSERT INTO `\(database)`.t VALUES (\(id), 'before-t')") }
                    }
                }
                try await Self.nextSecond()
                let t = WireTime.epochMilliseconds(Date())
                for (index, databases) in layout.enumerated() {
                    for database in databases { try await servers[index].execute("DELETE FROM `\(database)`.t WHERE id <= 8") }
                }
                try await Self.nextSecond()
                for (index, databases) in layout.enumerated() {
                    for database in databases { try await servers[index].execute("INSERT INTO `\(database)`.t VALUES (11, 'after-t')") }
                }
                for (index, id) in sourceIDs.enumerated() {
                    try await BinlogArchiveTests.waitCaughtUp(store, node: id, server: servers[index])
                }
                let relations = [(sourceIDs[0], targetIDs[0]), (sourceIDs[1], targetIDs[1])]
                let uri = "/v3/\(p)/instances/\(source)/backups/recovery"

                // Refusals before anything is touched.
                let early = try await server.signed(.post, uri, json: Self.body(time: "\(cutMillis - 60_000)", target: targetA, relations: relations))
                #expect(early.status == .badRequest)
                #expect(early.errorCode == "DBS.280001")
                let late = try await server.signed(.post, uri, json: Self.body(time: "\(t + 3_600_000)", target: targetA, relations: relations))
                #expect(late.errorCode == "DBS.280001")
                let swapped = try await server.signed(
                    .post, uri, json: Self.body(time: "\(t)", target: targetA, relations: [(targetIDs[0], sourceIDs[0]), (sourceIDs[1], targetIDs[1])]))
                #expect(swapped.errorCode == "DBS.300103")
                let partial = try await server.signed(.post, uri, json: Self.body(time: "\(t)", target: targetA, relations: [relations[0]]))
                #expect(partial.errorCode == "DBS.300103")
                let itself = try await server.signed(.post, uri, json: Self.body(time: "\(t)", target: source, relations: relations))
                #expect(itself.errorCode == "DBS.300372")
                let mismatch = try await server.signed(
                    .post, uri,
                    json: #"{"source": {"restore_time": \#(t), "instance_id": "\#(targetA)"}, "target": {"instance_id": "\#(targetA)"}, "data_node_relations": []}"#)
                #expect(mismatch.errorCode == "DBS.280001")
                #expect(try await Self.databases(servers[2]).isEmpty)

                // 1. Restore to the backup's consistent point (a float, as the SDK sends a Python float): no replay.
                let consistent = try await server.signed(.post, uri, json: Self.body(time: "\(cutMillis).0", target: targetA, relations: relations))
                #expect(consistent.status == .accepted, "\(consistent.json)")
                let consistentJob = try #require(consistent.json["job_id"] as? String)
                // While it is queued: the target shows RESTORE, a backup or a second recovery of it is busy.
                let shown = try await server.signed(.get, "/v1/\(p)/instances/\(targetA)")
                #expect(shown.json["status"] as? String == "RESTORE")
                let backupBusy = try await server.signed(.post, "/v3/\(p)/instances/\(targetA)/backups")
                #expect(backupBusy.status == .conflict)
                #expect(backupBusy.errorCode == "DBS.200019")
                let recoveryBusy = try await server.signed(.post, uri, json: Self.body(time: "\(t)", target: targetA, relations: relations))
                #expect(recoveryBusy.status == .conflict)
                #expect(recoveryBusy.errorCode == "DBS.200019")
                try await DDMBackupTests.drain(server)
                let done = try await Self.job(server, consistentJob)
                #expect(done["status"] as? String == "Completed", "\(done)")
                #expect(done["name"] as? String == "RestoreInstance")
                #expect((done["result"] as? [String: Any])?["point"] as? String == "consistent")
                for (index, databases) in layout.enumerated() {
                    let restored = try await Self.rows(servers[index + 2], databases)
                    for database in databases { #expect(restored[database] == ["1", "2", "3", "4", "5"], "\(database) on target \(index)") }
                }
                let schemas = try await server.signed(.get, "/v1/\(p)/instances/\(targetA)/databases")
                #expect(((schemas.json["databases"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String }.contains("shop"))

                // The target now holds the source's schema: a second recovery into it is refused.
                let again = try await server.signed(.post, uri, json: Self.body(time: "\(t)", target: targetA, relations: relations))
                #expect(again.status == .badRequest)
                #expect(again.errorCode == "DBS.300112")
                // Another target instance over the same nodes: the nodes hold the shard databases → refused too.
                let targetB = try await Self.targetInstance(server, name: "ddm-target-b", nodeIDs: targetIDs)
                let held = try await server.signed(.post, uri, json: Self.body(time: "\(t)", target: targetB, relations: relations))
                #expect(held.errorCode == "DBS.300112")
                #expect((held.json["error_msg"] as? String)?.contains("shop_0000") == true)
                for (index, databases) in layout.enumerated() {
                    for database in databases { try await servers[index + 2].execute("DROP DATABASE `\(database)`") }
                }

                // 2. A corrupted archive segment after the cut: the job fails saying so and leaves nothing behind.
                let file = try #require(backup.files.first { $0.nodeID == sourceIDs[0] })
                let segments = try await store.binlogs.segments(nodeID: sourceIDs[0])
                let victim = try #require(
                    segments.first { ($0.file == file.binlogFile && $0.endPosition > file.binlogPosition && $0.startPosition >= file.binlogPosition) || $0.file > file.binlogFile })
                let path = server.dataDirectory + "/blobs/objects/" + victim.blobKey
                let original = try Data(contentsOf: URL(fileURLWithPath: path))
                var damaged = original
                damaged[damaged.count - 1] ^= 0xFF
                try damaged.write(to: URL(fileURLWithPath: path))
                let corrupt = try await server.signed(.post, uri, json: Self.body(time: "\(t)", target: targetB, relations: relations))
                #expect(corrupt.status == .accepted, "\(corrupt.json)")
                try await DDMBackupTests.drain(server)
                let failed = try await Self.job(server, try #require(corrupt.json["job_id"] as? String))
                #expect(failed["status"] as? String == "Failed")
                #expect((failed["fail_reason"] as? String)?.contains("SHA-256") == true, "\(failed)")
                #expect((failed["fail_reason"] as? String)?.hasPrefix("DBS.300331") == true)
                #expect(try await Self.databases(servers[2]).isEmpty)
                #expect(try await Self.databases(servers[3]).isEmpty)
                try original.write(to: URL(fileURLWithPath: path))

                // 3. Restore to T, across a Coffer restart: the first attempt's worker dies after writing part of a
                //    shard; recovery queues the job again, which clears the target and runs to the end.
                let pitr = try await server.signed(.post, uri, json: Self.body(time: "\(t)", target: targetB, relations: relations))
                #expect(pitr.status == .accepted, "\(pitr.json)")
                let now = Date()
                let claimed = try #require(
                    try await store.jobs.claim(kinds: [JobKind.ddmRestore.rawValue], owner: "crashed-worker", now: now, leaseUntil: now.addingTimeInterval(-1)))
                #expect(claimed.id == pitr.json["job_id"] as? String)
                try await servers[2].execute(
                    "CREATE DATABASE shop_0000", "CREATE TABLE shop_0000.t (id INT PRIMARY KEY, v VARCHAR(20))", "INSERT INTO shop_0000.t VALUES (99, 'partial')",
                    "CREATE TABLE shop_0000.leftover (id INT PRIMARY KEY)")
                #expect(try await server.parts.worker.recoverExpiredJobs() == 1)
                #expect(try await store.jobs.job(id: claimed.id)?.status == .queued)
                let queuedAgain = try await server.signed(.get, "/v1/\(p)/instances/\(targetB)")
                #expect(queuedAgain.json["status"] as? String == "RESTORE")
                try await DDMBackupTests.drain(server)
                let finished = try await Self.job(server, try #require(pitr.json["job_id"] as? String))
                #expect(finished["status"] as? String == "Completed", "\(finished)")
                let result = try #require(finished["result"] as? [String: Any])
                #expect(result["point"] as? String == "point_in_time")
                let nodes = try #require(result["nodes"] as? [[String: Any]])
                #expect(nodes.count == 2)
                #expect(nodes.allSatisfy { ($0["replayed_transactions"] as? Int ?? 0) >= 10 }, "\(nodes)")
                for (index, databases) in layout.enumerated() {
                    let restored = try await Self.rows(servers[index + 2], databases)
                    for database in databases { #expect(restored[database] == (1...10).map(String.init), "\(database) on target \(index)") }
                    let position = try await servers[index + 2].execute("SELECT @@gtid_slave_pos AS g")[0].value("g") ?? ""
                    #expect(position == nodes[index]["gtid_position"] as? String)
                    #expect(!position.isEmpty)
                }
                // The interrupted attempt's writes are gone (the dump alone would have kept `leftover`).
                let tables = try await servers[2].execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'shop_0000'")
                #expect(tables[0].rows.map { $0[0] ?? "" } == ["t"])
                let schemasB = try await server.signed(.get, "/v1/\(p)/instances/\(targetB)/databases")
                #expect(((schemasB.json["databases"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String }.contains("shop"))

                // 4. Metadata recovery: another instance over the restored nodes gets the schema, no data moved.
                let targetC = try await Self.targetInstance(server, name: "ddm-target-c", nodeIDs: targetIDs)
                let meta = "/v3/\(p)/instances/\(source)/backups/metadata-recovery"
                let neither = try await server.signed(.post, meta, json: #"{"source": {}, "target": {"data_nodes": ["\#(targetIDs[0])"], "instance_id": "\#(targetC)"}}"#)
                #expect(neither.errorCode == "DBS.280001")
                let swappedNodes = try await server.signed(
                    .post, meta,
                    json: #"{"source": {"backup_id": "\#(backupID)"}, "target": {"data_nodes": ["\#(targetIDs[1])", "\#(targetIDs[0])"], "instance_id": "\#(targetC)"}}"#)
                #expect(swappedNodes.status == .badRequest)
                #expect(swappedNodes.errorCode == "DBS.300336")
                let loaded = try await server.signed(
                    .post, meta,
                    json: #"{"source": {"restore_time": \#(t)}, "target": {"data_nodes": ["\#(targetIDs[0])", "\#(targetIDs[1])"], "instance_id": "\#(targetC)"}}"#)
                #expect(loaded.status == .accepted, "\(loaded.json)")
                try await DDMBackupTests.drain(server)
                let loadJob = try await Self.job(server, try #require(loaded.json["job_id"] as? String))
                #expect(loadJob["status"] as? String == "Completed", "\(loadJob)")
                #expect(loadJob["name"] as? String == "loadMetadata")
                let schemasC = try await server.signed(.get, "/v1/\(p)/instances/\(targetC)/databases")
                let shop = try #require(((schemasC.json["databases"] as? [[String: Any]]) ?? []).first { $0["name"] as? String == "shop" })
                #expect(((shop["used_rds"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String } == targetIDs)
                let twice = try await server.signed(
                    .post, meta,
                    json: #"{"source": {"backup_id": "\#(backupID)"}, "target": {"data_nodes": ["\#(targetIDs[0])", "\#(targetIDs[1])"], "instance_id": "\#(targetC)"}}"#)
                #expect(twice.errorCode == "DBS.300112")
            }
        }
    }
}
