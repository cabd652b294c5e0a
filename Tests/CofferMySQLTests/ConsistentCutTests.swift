import CofferMySQL
import CofferTestSupport
import Foundation
import Synchronization
import Testing

/// The proof of the consistent cut. A writer commits causally ordered pairs: a row on one node, then — only
/// after that commit returned — the same id on the other node, alternating the direction. A backup is a
/// *broken cut* when some pair's second row is in it and its first row is not. Every dump is restored into
/// fresh servers and checked there.
@Suite("Consistent cut across data nodes", .serialized, .timeLimit(.minutes(5)))
struct ConsistentCutTests {
    static let databases = ["proof_0000", "proof_0001"]

    /// Backs up two nodes many times while the writer runs: Coffer's cuts are never broken; independent
    /// per-node dumps taken one after the other are (counts printed for the report).
    @Test func manyBackupsUnderLoad() async throws {
        try await MariaDBServer.withServers(4) { servers in
            let nodes = Array(servers[0..<2])
            let scratch = Array(servers[2..<4])
            try await Self.prepare(nodes)
            let writer = try await PairWriter(nodes: nodes, databases: Self.databases)
            let writing = Task { await writer.run() }
            let dumper = ConsistentDumper(logger: quietLogger)
            var coordinated: [[Data]] = []
            for _ in 0..<12 {
                let sinks = [MemorySink(), MemorySink()]
                _ = try await dumper.dump(Self.targets(nodes, sinks))
                coordinated.append(sinks.map(\.data))
                try await Task.sleep(for: .milliseconds(30))
            }
            var independent: [[Data]] = []
            for _ in 0..<12 {
                let sinks = [MemorySink(), MemorySink()]
                let targets = Self.targets(nodes, sinks)
                _ = try await dumper.dump([targets[0]])
                _ = try await dumper.dump([targets[1]])
                independent.append(sinks.map(\.data))
            }
            writing.cancel()
            let written = await writing.value
            #expect(written > 50, "the writer made too little progress to prove anything (\(written) pairs)")

            var brokenCoordinated = 0
            var pairsSeen = 0
            for backup in coordinated {
                let check = try await Self.check(backup, scratch: scratch)
                if check.broken > 0 { brokenCoordinated += 1 }
                pairsSeen = max(pairsSeen, check.pairs)
            }
            var brokenIndependent = 0
            for backup in independent where try await Self.check(backup, scratch: scratch).broken > 0 { brokenIndependent += 1 }
            print(
                "consistency proof: \(written) pairs written; Coffer backups broken \(brokenCoordinated)/\(coordinated.count); "
                    + "independent per-node dumps broken \(brokenIndependent)/\(independent.count)")
            #expect(brokenCoordinated == 0)
            #expect(pairsSeen > 0)
        }
    }

    /// Nodes without binary logging: each dump runs as a temporary account whose read view is watched in
    /// `SHOW ENGINE INNODB STATUS`; the cuts are consistent too, and the temporary accounts are gone afterwards.
    @Test func readViewWithoutBinlog() async throws {
        try await MariaDBServer.withServers(4, binlog: false) { servers in
            let nodes = Array(servers[0..<2])
            let scratch = Array(servers[2..<4])
            try await Self.prepare(nodes)
            // Enough rows on node 0 that its dump outlives the lock: the read view must be seen, not the end.
            try await nodes[0].execute(
                "CREATE TABLE proof_0000.bulk (id INT PRIMARY KEY, note VARCHAR(100)) ENGINE=InnoDB",
                "INSERT INTO proof_0000.bulk SELECT seq, REPEAT('x', 90) FROM seq_1_to_60000", database: "proof_0000")
            let writer = try await PairWriter(nodes: nodes, databases: Self.databases)
            let writing = Task { await writer.run() }
            let dumper = ConsistentDumper(logger: quietLogger)
            var backups: [[Data]] = []
            var readViews = 0
            for _ in 0..<6 {
                let sinks = [MemorySink(), MemorySink()]
                let outcomes = try await dumper.dump(Self.targets(nodes, sinks))
                #expect(outcomes.allSatisfy { $0.binlogFile.isEmpty })
                if outcomes[0].proof == .readView { readViews += 1 }
                backups.append(sinks.map(\.data))
                try await Task.sleep(for: .milliseconds(30))
            }
            writing.cancel()
            let written = await writing.value
            #expect(written > 20)
            var broken = 0
            for backup in backups where try await Self.check(backup, scratch: scratch).broken > 0 { broken += 1 }
            print(
                "consistency proof without binlog: \(written) pairs written; Coffer backups broken \(broken)/\(backups.count); "
                    + "released on the read view \(readViews)/\(backups.count)")
            #expect(broken == 0)
            #expect(readViews > 0)
            for node in nodes {
                let users = try await node.execute("SELECT COUNT(*) AS n FROM mysql.user WHERE User LIKE 'coffer_dump_%'")
                #expect(users[0].value("n") == "0")
            }
        }
    }

    /// Deterministic interleaving: node 1 dumped, then a pair committed (node 1, then node 2), then node 2
    /// dumped — the independent cut holds the second write without the first. Under Coffer's locks the same
    /// write cannot land between the snapshots: it waits for the release (here it times out after 1 s).
    @Test func deterministicInterleaving() async throws {
        try await MariaDBServer.withServers(4) { servers in
            let nodes = Array(servers[0..<2])
            let scratch = Array(servers[2..<4])
            try await Self.prepare(nodes)
            let dumper = ConsistentDumper(logger: quietLogger)

            // Independent dumps with a pair committed between them.
            let independent = [MemorySink(), MemorySink()]
            let targets = Self.targets(nodes, independent)
            _ = try await dumper.dump([targets[0]])
            try await nodes[0].execute("INSERT INTO proof_0000.events VALUES (2)")
            try await nodes[1].execute("INSERT INTO proof_0001.events VALUES (2)")
            _ = try await dumper.dump([targets[1]])
            let broken = try await Self.check(independent.map(\.data), scratch: scratch)
            #expect(broken.broken == 1, "independent dumps should hold pair 2's second write without its first")

            // Coffer: while the cut is being taken, the first write of the next pair cannot commit anywhere.
            let coordinated = [MemorySink(), MemorySink()]
            let blocked = Mutex<String?>(nil)
            _ = try await dumper.dump(Self.targets(nodes, coordinated)) {
                do {
                    try await MySQLConnection.withConnection(to: nodes[0].endpoint, logger: quietLogger) { connection in
                        try await connection.query("SET SESSION lock_wait_timeout = 1")
                        try await connection.query("INSERT INTO proof_0000.events VALUES (4)")
                    }
                } catch {
                    blocked.withLock { $0 = "\(error)" }
                }
            }
            #expect(blocked.withLock { $0 }?.contains("1205") == true, "a commit landed while every node was locked")
            let cut = try await Self.check(coordinated.map(\.data), scratch: scratch)
            #expect(cut.broken == 0)
            #expect(cut.pairs == 1)  // pair 2 is whole in Coffer's backup
        }
    }

    // MARK: - Failures

    @Test func nodeDownWhenTheBackupStarts() async throws {
        try await MariaDBServer.withServers(2) { nodes in
            try await Self.prepare(nodes)
            nodes[1].kill()
            await nodes[1].waitForExit()
            let sinks = [MemorySink(), MemorySink()]
            do {
                _ = try await ConsistentDumper(logger: quietLogger).dump(Self.targets(nodes, sinks))
                Issue.record("a backup with a node down succeeded")
            } catch let error as MySQLError {
                #expect("\(error)".contains("node-1"))
            }
            // The live node is not left locked.
            try await Self.writeQuickly(nodes[0])
        }
    }

    @Test func nodeDiesMidDump() async throws {
        try await MariaDBServer.withServers(2) { nodes in
            try await Self.prepare(nodes)
            try await nodes[1].execute(
                "CREATE TABLE proof_0001.bulk (id INT PRIMARY KEY, note VARCHAR(100)) ENGINE=InnoDB",
                "INSERT INTO proof_0001.bulk SELECT seq, REPEAT('x', 90) FROM seq_1_to_300000", database: "proof_0001")
            let victim = nodes[1]
            let sinks = [MemorySink(), MemorySink(onFirstWrite: { victim.kill() })]
            var config = ConsistentDumper.Configuration()
            config.snapshotDeadline = .seconds(10)
            do {
                _ = try await ConsistentDumper(configuration: config, logger: quietLogger).dump(Self.targets(nodes, sinks))
                Issue.record("a backup whose node died mid-dump succeeded")
            } catch let error as MySQLError {
                #expect("\(error)".contains("node-1"))
            }
            try await Self.writeQuickly(nodes[0])
        }
    }

    @Test func wrongCredentials() async throws {
        try await MariaDBServer.withServers(2) { nodes in
            try await Self.prepare(nodes)
            var targets = Self.targets(nodes, [MemorySink(), MemorySink()])
            targets[1].endpoint.password = "wrong"
            let error = try await #require(throws: MySQLError.self, "a backup with a wrong password succeeded") {
                _ = try await ConsistentDumper(logger: quietLogger).dump(targets)
            }
            if case .authenticationFailed = error {} else { Issue.record("unexpected \(error)") }
            try await Self.writeQuickly(nodes[0])
        }
    }

    // MARK: - Helpers

    static func prepare(_ nodes: [MariaDBServer]) async throws {
        for (index, node) in nodes.enumerated() {
            try await node.execute(
                "CREATE DATABASE \(Self.databases[index])",
                "CREATE TABLE \(Self.databases[index]).events (id BIGINT PRIMARY KEY) ENGINE=InnoDB")
        }
    }

    static func targets(_ nodes: [MariaDBServer], _ sinks: [MemorySink]) -> [DumpTarget] {
        nodes.enumerated().map { index, node in
            DumpTarget(name: "node-\(index)", endpoint: node.endpoint, databases: [Self.databases[index]], sink: sinks[index])
        }
    }

    /// A write on the node commits within 2 s (no lock left behind).
    static func writeQuickly(_ node: MariaDBServer) async throws {
        try await MySQLConnection.withConnection(to: node.endpoint, logger: quietLogger) { connection in
            try await connection.query("SET SESSION lock_wait_timeout = 2")
            try await connection.query("INSERT INTO proof_0000.events VALUES (999999)")
        }
    }

    /// Restores both dumps into the scratch servers and counts pairs whose second write is present without the first.
    /// Pair k's first write is on node 0 when k is even, on node 1 when odd.
    static func check(_ dumps: [Data], scratch: [MariaDBServer]) async throws -> (broken: Int, pairs: Int) {
        var sets: [Set<Int>] = []
        for (index, dump) in dumps.enumerated() {
            try await scratch[index].execute("DROP DATABASE IF EXISTS \(Self.databases[index])")
            try await restore(dump, into: scratch[index])
            sets.append(try await PairWriter.ids(on: scratch[index], Self.databases[index]))
        }
        return PairWriter.check(sets)
    }
}
