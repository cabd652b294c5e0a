import CofferCore
import CofferMySQL
import CofferOperations
import CofferStorage
import CofferTestSupport
import Foundation
import Logging
import NIOCore
import Synchronization
import Testing

/// Binlog archiving against real `mariadbd` data nodes (binlog on): the archive of every closed file is byte for
/// byte the server's own file, across rotations, archiver restarts and a killed dump thread; purged binlogs
/// become a recorded gap; a node without binlog gets no archive.
@Suite("DDM binlog archive", .serialized, .timeLimit(.minutes(1)))
struct BinlogArchiveTests {
    static let logger: Logger = {
        var logger = Logger(label: "coffer.test.binlog")
        logger.logLevel = ProcessInfo.processInfo.environment["BINLOG_TEST_LOG"] == nil ? .critical : .debug
        return logger
    }()

    static var settings: BinlogArchiver.Settings {
        var settings = BinlogArchiver.Settings()
        settings.segmentInterval = .milliseconds(300)
        settings.heartbeat = .seconds(1)
        settings.retryDelay = .milliseconds(200)
        settings.recheckInterval = .milliseconds(500)
        return settings
    }

    /// A store over `database` with one instance whose schema uses `server` as its data node; returns the node id.
    static func withArchive<R: Sendable>(
        _ database: TestDatabase, server: MariaDBServer, _ body: (CofferStore, String) async throws -> R
    ) async throws -> R {
        try await database.withProvider { provider in
            let directory = try TemporaryDirectory(prefix: "coffer-binlog")
            defer { directory.remove() }
            let store = try CofferStore(dataDirectory: directory.path, provider: provider, masterKey: .random())
            let project = Identifiers.hex32()
            let now = Date()
            let node = DataNode(
                id: Identifiers.ddm(suffix: "in01"), projectID: project, name: "dn-1", host: "127.0.0.1", port: server.port,
                engineName: "mariadb", engineVersion: "10.11", createdAt: now)
            try await store.ddm.insertDataNode(node)
            let instance = DDMInstance(
                id: Identifiers.ddm(suffix: "in09"), projectID: project, name: "ddm-binlog", status: "RUNNING", flavorID: "f", nodeNum: 1,
                engineID: "e", availableZones: ["az1"], vpcID: "v", subnetID: "s", securityGroupID: "g", timeZone: "UTC", adminUserName: nil,
                enterpriseProjectID: nil, createdAt: now, updatedAt: now)
            try await store.ddm.insertInstance(instance)
            try await store.ddm.insertSchema(
                DDMSchema(
                    projectID: project, instanceID: instance.id, name: "shop", shardMode: "single", shardNumber: 1,
                    parts: [.init(nodeID: node.id, adminUser: MariaDBServer.adminUser, adminPassword: MariaDBServer.adminPassword, databases: ["shop_0000"])],
                    createdAt: now))
            return try await body(store, node.id)
        }
    }

    /// Runs an archive service (its own lease owner) until `body` returns, then stops it cleanly.
    static func withService<R: Sendable>(_ store: CofferStore, _ body: () async throws -> R) async throws -> R {
        let service = BinlogArchiveService(
            ddm: store.ddm, archive: store.binlogs, blobs: store.blobs, settings: Self.settings, leaseDuration: .seconds(3), logger: Self.logger,
            clock: { Date() })
        let task = Task { try await service.run() }
        do {
            let result = try await body()
            task.cancel()
            _ = try? await task.value
            return result
        } catch {
            task.cancel()
            _ = try? await task.value
            throw error
        }
    }

    /// Waits until the archive's cursor is where the server writes now (read again each time: the server adds a
    /// binlog checkpoint event to a new file a moment after a rotation).
    static func waitCaughtUp(_ store: CofferStore, node: String, server: MariaDBServer) async throws {
        let deadline = ContinuousClock.now + .seconds(15)
        var master = BinlogCursor(file: "", position: 0)
        while ContinuousClock.now < deadline {
            let row = try await server.execute("SHOW MASTER STATUS")[0].rows.first
            master = BinlogCursor(file: (row?[0] ?? nil) ?? "", position: UInt64(row?[1] ?? "") ?? 0)
            if try await store.binlogs.status(nodeID: node)?.cursor == master { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("archive of \(node) stuck at \(String(describing: try await store.binlogs.status(nodeID: node))), server at \(master)")
    }

    /// The archived bytes of `file`: its segments concatenated, each checked against its recorded size and SHA-256.
    static func archived(_ store: CofferStore, node: String, file: String) async throws -> (bytes: [UInt8], closed: Bool) {
        var bytes: [UInt8] = []
        var closed = false
        for segment in try await store.binlogs.segments(nodeID: node) where segment.file == file {
            #expect(UInt64(bytes.count) == segment.startPosition, "segment \(segment.sequence) of \(file) starts at \(segment.startPosition)")
            let reader = try #require(try await store.blobs.open(key: segment.blobKey))
            var content: [UInt8] = []
            while true {
                let chunk = try await reader.read(at: Int64(content.count), upTo: 1 << 20)
                if chunk.readableBytes == 0 { break }
                content += chunk.readableBytesView
            }
            reader.close()
            #expect(Int64(content.count) == segment.size)
            #expect(try Self.sha256(content) == segment.sha256)
            bytes += content
            #expect(UInt64(bytes.count) == segment.endPosition)
            closed = closed || segment.closesFile
        }
        return (bytes, closed)
    }

    /// SHA-256 by `sha256sum` (this target does not link a crypto library).
    static func sha256(_ bytes: [UInt8]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(Data(bytes))
        try input.fileHandleForWriting.close()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return String(text.prefix(64))
    }

    /// Every file the server closed (all but the one it writes now) is archived, closed, and identical to the server's.
    static func expectClosedFilesIdentical(_ store: CofferStore, node: String, server: MariaDBServer, from first: String? = nil) async throws -> Int {
        let files = try await server.execute("SHOW BINARY LOGS")[0].rows.compactMap { $0.first ?? nil }
        var compared = 0
        for file in files.dropLast() where first.map({ file >= $0 }) ?? true {
            let onDisk = try [UInt8](Data(contentsOf: server.directory.file("data").appendingPathComponent(file)))
            let (bytes, closed) = try await Self.archived(store, node: node, file: file)
            #expect(closed, "\(file) is not marked complete")
            #expect(bytes.count == onDisk.count, "\(file): archived \(bytes.count) bytes, server has \(onDisk.count)")
            let identical = bytes == onDisk
            #expect(identical, "\(file) differs from the server's file (first difference at \(zip(bytes, onDisk).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(bytes.count, onDisk.count)))")
            compared += 1
        }
        return compared
    }

    /// Commits rows, one autocommit INSERT at a time, until told to stop; returns how many.
    final class Writer: Sendable {
        final class Flag: Sendable {
            let state = Mutex(false)
        }
        private let stopped = Flag()
        private let task: Task<Int, any Error>

        init(_ server: MariaDBServer) {
            let stopped = self.stopped
            self.task = Task {
                try await MySQLConnection.withConnection(to: server.endpoint, database: "shop_0000", timeout: .seconds(10), logger: BinlogArchiveTests.logger) {
                    connection in
                    var count = 0
                    // ROW format: MariaDB then writes an `Annotate_rows` event before the row events, which a dump
                    // leaves out unless asked (the archive would skip those bytes); other tests write MIXED.
                    try await connection.query("SET SESSION binlog_format = 'ROW'")
                    while !stopped.state.withLock({ $0 }) {
                        try await connection.query("INSERT INTO t (v) VALUES (\(count))")
                        count += 1
                    }
                    return count
                }
            }
        }

        func stop() async throws -> Int {
            self.stopped.state.withLock { $0 = true }
            return try await self.task.value
        }
    }

    /// Kills the server's binlog dump threads, waiting (5 s at most) for one to exist.
    static func killDumpThreads(_ server: MariaDBServer) async throws -> Int {
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            let processes = try await server.execute("SHOW PROCESSLIST")[0]
            let command = processes.columns.firstIndex(of: "Command") ?? 4
            var killed = 0
            for row in processes.rows where row[command] == "Binlog Dump" {
                if let id = row[0] {
                    try await server.execute("KILL \(id)")
                    killed += 1
                }
            }
            if killed > 0 { return killed }
            try await Task.sleep(for: .milliseconds(100))
        }
        return 0
    }

    @Test("A writer commits; rotations, a restart and a killed dump thread lose and repeat nothing", arguments: TestDatabase.available)
    func archiveWhileWriting(database: TestDatabase) async throws {
        try await MariaDBServer.withServers(1) { servers in
            let server = servers[0]
            try await server.execute("CREATE DATABASE shop_0000", "CREATE TABLE shop_0000.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
            try await Self.withArchive(database, server: server) { store, node in
                let writer = Writer(server)
                try await Self.withService(store) {
                    try await Task.sleep(for: .milliseconds(500))
                    try await server.execute("FLUSH BINARY LOGS")
                    try await Task.sleep(for: .milliseconds(400))
                    try await server.execute("FLUSH BINARY LOGS")
                    try await Task.sleep(for: .milliseconds(400))
                }
                // Restarted mid-stream: the first run published what it had; the second continues from there.
                try await server.execute("FLUSH BINARY LOGS")
                try await Self.withService(store) {
                    try await Task.sleep(for: .milliseconds(500))
                    #expect(try await Self.killDumpThreads(server) >= 1)
                    try await Task.sleep(for: .milliseconds(500))
                    try await server.execute("FLUSH BINARY LOGS")
                    try await Task.sleep(for: .milliseconds(300))
                    let rows = try await writer.stop()
                    #expect(rows > 50)
                    try await server.execute("FLUSH BINARY LOGS")
                    try await Self.waitCaughtUp(store, node: node, server: server)
                }
                #expect(try await Self.expectClosedFilesIdentical(store, node: node, server: server) >= 5)
                #expect(try await store.binlogs.gaps(nodeID: node).isEmpty)
                let status = try #require(try await store.binlogs.status(nodeID: node))
                #expect(status.state == .archiving)
                let segments = try await store.binlogs.segments(nodeID: node)
                #expect(segments.map(\.sequence) == Array(1...Int64(segments.count)))
                #expect(segments.contains { $0.lastGTID != nil && $0.firstEventAt != nil })
            }
        }
    }

    @Test("Binlogs purged before they were archived become a recorded gap; the archive goes on after it")
    func purgedBecomesGap() async throws {
        try await MariaDBServer.withServers(1) { servers in
            let server = servers[0]
            try await server.execute("CREATE DATABASE shop_0000", "CREATE TABLE shop_0000.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
            try await Self.withArchive(.sqlite, server: server) { store, node in
                try await Self.withService(store) {
                    try await server.execute("INSERT INTO shop_0000.t (v) VALUES (1)")
                    try await Self.waitCaughtUp(store, node: node, server: server)
                }
                let stopped = try #require(try await store.binlogs.status(nodeID: node)?.cursor)
                for value in 2...4 {
                    try await server.execute("INSERT INTO shop_0000.t (v) VALUES (\(value))", "FLUSH BINARY LOGS")
                }
                let files = try await server.execute("SHOW BINARY LOGS")[0].rows.compactMap { $0.first ?? nil }
                let current = try #require(files.last)
                // MariaDB keeps files InnoDB has not checkpointed yet: the gap ends at whatever file is oldest now.
                try await server.execute("PURGE BINARY LOGS TO '\(current)'")
                try await server.execute("INSERT INTO shop_0000.t (v) VALUES (5)", "FLUSH BINARY LOGS")
                let oldest = try #require(try await server.execute("SHOW BINARY LOGS")[0].rows.first?.first ?? nil)
                #expect(oldest > stopped.file)
                try await Self.withService(store) {
                    try await Self.waitCaughtUp(store, node: node, server: server)
                }
                let gaps = try await store.binlogs.gaps(nodeID: node)
                #expect(gaps.count == 1)
                #expect(gaps.first?.from == stopped)
                #expect(gaps.first?.to == .start(of: oldest))
                #expect(gaps.first?.fromEventAt != nil)
                #expect(try await Self.expectClosedFilesIdentical(store, node: node, server: server, from: oldest) >= 1)
            }
        }
    }

    @Test("A node without binary log gets no archive, and the store says so")
    func noBinlog() async throws {
        try await MariaDBServer.withServers(1, binlog: false) { servers in
            try await Self.withArchive(.sqlite, server: servers[0]) { store, node in
                try await Self.withService(store) {
                    let deadline = ContinuousClock.now + .seconds(10)
                    while ContinuousClock.now < deadline, try await store.binlogs.status(nodeID: node)?.state != .noBinlog {
                        try await Task.sleep(for: .milliseconds(100))
                    }
                }
                let status = try #require(try await store.binlogs.status(nodeID: node))
                #expect(status.state == .noBinlog)
                #expect(status.detail == "log_bin is OFF")
                #expect(status.cursor == nil)
                #expect(try await store.binlogs.segments(nodeID: node).isEmpty)
            }
        }
    }

    @Test("Retention: archived files before the oldest retained backup cut of the node go with the backups")
    func retention() async throws {
        try await TestDatabase.sqlite.withProvider { provider in
            let directory = try TemporaryDirectory(prefix: "coffer-binlog")
            defer { directory.remove() }
            let store = try CofferStore(dataDirectory: directory.path, provider: provider, masterKey: .random())
            let project = Identifiers.hex32()
            let node = Identifiers.ddm(suffix: "in01")
            let other = Identifiers.ddm(suffix: "in01")
            let now = Date()
            for id in [node, other] {
                #expect(try await store.binlogs.acquireLease(nodeID: id, projectID: project, owner: "o", until: now + 60, now: now))
                for (index, file) in ["binlog.000001", "binlog.000002", "binlog.000003", "binlog.000004"].enumerated() {
                    let writer = try await store.blobs.makeWriter(key: "binlog/\(id)/\(file)")
                    try await writer.write(contentsOf: [0xFE, 0x62, 0x69, 0x6E])
                    let info = try await writer.commit()
                    let segment = BinlogSegment(
                        nodeID: id, sequence: Int64(index + 1), file: file, startPosition: 0, endPosition: 4, blobKey: info.key, size: 4,
                        sha256: info.sha256, firstEventAt: now, lastEventAt: now, lastGTID: nil, closesFile: true, createdAt: now)
                    let next = BinlogCursor.start(of: "binlog.00000\(index + 2)")
                    #expect(try await store.binlogs.appendSegment(segment, cursor: next, owner: "o", now: now))
                }
            }
            func backup(_ cutFile: String, minutesAgo: Double) -> DDMBackup {
                let at = now.addingTimeInterval(-60 * minutesAgo)
                return DDMBackup(
                    id: Identifiers.ddm(suffix: "br09"), projectID: project, instanceID: "i", instanceName: "ddm", name: "b", description: "",
                    backupType: "metadata", status: .normal, size: 1, relatedNodes: [], files: [
                        .init(
                            nodeID: node, nodeName: "dn", blobKey: "k", size: 1, sha256: "s", databases: [], binlogFile: cutFile, binlogPosition: 400,
                            gtidPosition: "0-1-9")
                    ], metadataKey: nil, metadataSHA256: nil, error: nil, createdAt: at, updatedAt: at)
            }
            var oldest = backup("binlog.000002", minutesAgo: 30)
            try await store.ddm.insertBackup(oldest)
            try await store.ddm.insertBackup(backup("binlog.000004", minutesAgo: 10))
            let retention = BinlogRetention(ddm: store.ddm, archive: store.binlogs, blobs: store.blobs, logger: Self.logger)
            #expect(try await retention.prune(projectID: project, nodeIDs: [node]) == 1)
            #expect(try await store.binlogs.segments(nodeID: node).map(\.file) == ["binlog.000002", "binlog.000003", "binlog.000004"])
            #expect(await store.blobs.exists(key: "binlog/\(node)/binlog.000001") == false)
            oldest.status = .deleted
            try await store.ddm.updateBackup(oldest)
            #expect(try await retention.prune(projectID: project, nodeIDs: [node, other]) == 2)
            #expect(try await store.binlogs.segments(nodeID: node).map(\.file) == ["binlog.000004"])
            #expect(await store.blobs.exists(key: "binlog/\(node)/binlog.000003") == false)
            #expect(await store.blobs.exists(key: "binlog/\(node)/binlog.000004"))
            // A node no retained backup covers keeps its whole archive.
            #expect(try await store.binlogs.segments(nodeID: other).count == 4)
        }
    }
}
