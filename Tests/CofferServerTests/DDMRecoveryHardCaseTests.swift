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

/// The recovery's harder cases with real `mariadbd` servers, beside `DDMRecoveryTests`' main path:
/// - a source node drops the archive's binlog connection while rows are written: the archiver resumes where it
///   stopped and the point-in-time restore still has every row before T;
/// - an XA transaction prepared before T and committed after it: the replay leaves it prepared on the target,
///   the job rolls it back and says so (its row is not restored, nothing stays prepared);
/// - a target node lost in the middle of a recovery: the job ends `Failed` naming the node, and what it had
///   already written on the other target node is dropped;
/// - a target node down when the recovery is asked for: 400 `DBS.280001` before anything is touched.
@Suite("DDM recovery: hard cases", .serialized, .timeLimit(.minutes(5)))
struct DDMRecoveryHardCaseTests {
    @Test("A recovery to the cut of a backup taken under a pair writer breaks no pair on the target nodes")
    func cutUnderLoad() async throws {
        try await MariaDBServer.withServers(4) { servers in
            try await TestServer.run(database: .sqlite) { server in
                let p = server.projectID
                let store = server.parts.store
                let fixture = try await DDMRecoveryTests.fixture(server, servers, targetName: "ddm-target")
                let (source, sourceIDs, targetIDs, target) = (fixture.source, fixture.sourceIDs, fixture.targetIDs, fixture.target)
                // shop_0000 lives on source 0 and shop_0001 on source 1 (DDMBackupTests.setUp's layout).
                let databases = ["shop_0000", "shop_0001"]
                for (index, database) in databases.enumerated() {
                    try await servers[index].execute("CREATE TABLE `\(database)`.events (id BIGINT PRIMARY KEY) ENGINE=InnoDB")
                }
                let archiving = DDMRecoveryTests.archiving(store)
                defer { archiving.cancel() }

                let writer = try await PairWriter(nodes: Array(servers[0..<2]), databases: databases)
                let writing = Task { await writer.run() }
                // Pairs before the cut and after it, however slow a busy machine makes the writer (bounded waits).
                func waitForPairs(_ count: Int) async throws {
                    let deadline = ContinuousClock.now + .seconds(30)
                    while await writer.progress < count, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
                }
                try await waitForPairs(10)
                let started = try await server.signed(.post, "/v3/\(p)/instances/\(source)/backups", json: #"{"name": "under-load"}"#)
                #expect(started.status == .accepted, "\(started.json)")
                try await DDMBackupTests.drain(server)
                try await waitForPairs(await writer.progress + 12)
                writing.cancel()
                let written = await writing.value
                #expect(written > 20, "the writer made too little progress to prove anything (\(written) pairs)")
                let backupID = try #require(started.json["backup_id"] as? String)
                let backup = try #require(try await store.ddm.backup(projectID: p, id: backupID))
                let cut = WireTime.epochMilliseconds(try #require(backup.cutAt))
                for (index, id) in sourceIDs.enumerated() {
                    try await BinlogArchiveTests.waitCaughtUp(store, node: id, server: servers[index])
                }

                let relations = [(sourceIDs[0], targetIDs[0]), (sourceIDs[1], targetIDs[1])]
                let reply = try await server.signed(
                    .post, "/v3/\(p)/instances/\(source)/backups/recovery", json: DDMRecoveryTests.body(time: "\(cut)", target: target, relations: relations))
                #expect(reply.status == .accepted, "\(reply.json)")
                try await DDMBackupTests.drain(server)
                let done = try await DDMRecoveryTests.job(server, try #require(reply.json["job_id"] as? String))
                #expect(done["status"] as? String == "Completed", "\(done)")
                #expect((done["result"] as? [String: Any])?["point"] as? String == "consistent")
                let restored = [
                    try await PairWriter.ids(on: servers[2], databases[0]), try await PairWriter.ids(on: servers[3], databases[1]),
                ]
                let check = PairWriter.check(restored)
                print("recovery to a cut under load: \(written) pairs written, \(check.pairs) whole in the restored cut, \(check.broken) broken")
                #expect(check.broken == 0)
                #expect(check.pairs > 0)
                // And the source went on past the cut: the restore holds less than the sources do now.
                let now = [try await PairWriter.ids(on: servers[0], databases[0]), try await PairWriter.ids(on: servers[1], databases[1])]
                #expect(now[0].count + now[1].count > restored[0].count + restored[1].count)
            }
        }
    }

    @Test("A dropped binlog connection, an XA branch open at T, a target lost mid-recovery, a target down")
    func failures() async throws {
        try await MariaDBServer.withServers(4) { servers in
            try await TestServer.run(database: .sqlite) { server in
                let p = server.projectID
                let store = server.parts.store
                let fixture = try await DDMRecoveryTests.fixture(server, servers, targetName: "ddm-target")
                let (source, sourceIDs, targetIDs, target) = (fixture.source, fixture.sourceIDs, fixture.targetIDs, fixture.target)
                let layout = [["shop_0000", "shop_0002"], ["shop_0001", "shop_0003"]]
                for (index, databases) in layout.enumerated() {
                    for database in databases {
                        try await servers[index].execute("CREATE TABLE `\(database)`.t (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB")
                        for id in 1...3 { try await servers[index].execute("INSERT INTO `\(database)`.t VALUES (\(id), 'before-backup')") }
                    }
                }
                let archiving = DDMRecoveryTests.archiving(store)
                defer { archiving.cancel() }

                let started = try await server.signed(.post, "/v3/\(p)/instances/\(source)/backups", json: #"{"name": "cut"}"#)
                #expect(started.status == .accepted, "\(started.json)")
                try await DDMBackupTests.drain(server)

                // After the cut, source 0 drops the archive's connection and rows are written while it is away.
                try await DDMRecoveryTests.nextSecond()
                #expect(try await BinlogArchiveTests.killDumpThreads(servers[0]) >= 1)
                for database in layout[0] {
                    for id in 4...8 { try await servers[0].execute("INSERT INTO `\(database)`.t VALUES (\(id), 'while-dropped')") }
                }
                for database in layout[1] {
                    for id in 4...8 { try await servers[1].execute("INSERT INTO `\(database)`.t VALUES (\(id), 'before-t')") }
                }
                // An XA branch prepared before T on source 1 (it survives its session), committed only after T.
                try await servers[1].execute(
                    "XA START 'coffer-xa-1'", "INSERT INTO shop_0001.t VALUES (50, 'xa')", "XA END 'coffer-xa-1'", "XA PREPARE 'coffer-xa-1'")
                try await DDMRecoveryTests.nextSecond()
                let t = WireTime.epochMilliseconds(Date())
                try await DDMRecoveryTests.nextSecond()
                try await servers[1].execute("XA COMMIT 'coffer-xa-1'")
                for (index, databases) in layout.enumerated() {
                    for database in databases { try await servers[index].execute("DELETE FROM `\(database)`.t WHERE id <= 5") }
                }
                for (index, id) in sourceIDs.enumerated() {
                    try await BinlogArchiveTests.waitCaughtUp(store, node: id, server: servers[index])
                }
                #expect(try await store.binlogs.gaps(nodeID: sourceIDs[0]).isEmpty)
                let relations = [(sourceIDs[0], targetIDs[0]), (sourceIDs[1], targetIDs[1])]
                let uri = "/v3/\(p)/instances/\(source)/backups/recovery"

                // 1. Restore to T: every row before T, including those written while the connection was down; the
                //    XA branch that was only prepared at T is rolled back on the target and reported.
                let pitr = try await server.signed(.post, uri, json: DDMRecoveryTests.body(time: "\(t)", target: target, relations: relations))
                #expect(pitr.status == .accepted, "\(pitr.json)")
                try await DDMBackupTests.drain(server)
                let done = try await DDMRecoveryTests.job(server, try #require(pitr.json["job_id"] as? String))
                #expect(done["status"] as? String == "Completed", "\(done)")
                for (index, databases) in layout.enumerated() {
                    let restored = try await DDMRecoveryTests.rows(servers[index + 2], databases)
                    for database in databases { #expect(restored[database] == (1...8).map(String.init), "\(database) on target \(index)") }
                }
                #expect(try await servers[3].execute("XA RECOVER")[0].rows.isEmpty)
                let nodes = try #require((done["result"] as? [String: Any])?["nodes"] as? [[String: Any]])
                let notes = nodes.flatMap { ($0["notes"] as? [String]) ?? [] }
                #expect(notes.contains { $0.contains("coffer-xa-1") && $0.contains("rolled back") }, "\(nodes)")

                // 2. Target node 1 is lost while the recovery runs (after target 0 was written): the job fails naming
                //    it, and target 0's shard databases are dropped again: no half-restored target is left silently.
                for (index, databases) in layout.enumerated() {
                    for database in databases { try await servers[index + 2].execute("DROP DATABASE `\(database)`") }
                }
                // (Another target instance over the same nodes: the first one now holds the source's schema.)
                let targetB = try await DDMRecoveryTests.targetInstance(server, name: "ddm-target-b", nodeIDs: targetIDs)
                let second = try await server.signed(.post, uri, json: DDMRecoveryTests.body(time: "\(t)", target: targetB, relations: relations))
                #expect(second.status == .accepted, "\(second.json)")
                let secondID = try #require(second.json["job_id"] as? String)
                // The request found both targets up; the second dies before the job runs. Relations run in order, so
                // target 0 is loaded and replayed before target 1 is reached.
                servers[3].kill()
                await servers[3].waitForExit()
                try await DDMBackupTests.drain(server)
                let failed = try await DDMRecoveryTests.job(server, secondID)
                #expect(failed["status"] as? String == "Failed", "\(failed)")
                let reason = (failed["fail_reason"] as? String) ?? ""
                #expect(reason.hasPrefix("DBS.300331"), "\(reason)")
                #expect(reason.contains(targetIDs[1]), "\(reason)")
                #expect(try await DDMRecoveryTests.databases(servers[2]).isEmpty)

                // 3. A target node down when asked: refused before anything is touched.
                let refused = try await server.signed(.post, uri, json: DDMRecoveryTests.body(time: "\(t)", target: targetB, relations: relations))
                #expect(refused.status == .badRequest, "\(refused.json)")
                #expect(refused.errorCode == "DBS.280001")
                #expect(try await DDMRecoveryTests.databases(servers[2]).isEmpty)
            }
        }
    }
}
