import CofferCore
import CofferOperations
import CofferRedis
import CofferStorage
import CofferTestSupport
import Foundation
import Logging
import NIOCore
import Synchronization
import Testing

/// The `RESTORE` path of the DCS restore engine against real `redis-server`s: a dataset of every type back as it
/// was at backup time, the fence, rollback after a refused record, a killed target and a crash with recovery.
@Suite("Redis restore engine", .timeLimit(.minutes(3)))
struct RedisRestoreEngineTests {
    static let appPassword = "app-secret"

    /// Collects what the engine reported, from any task.
    final class Recorder: Sendable {
        let checkpoints = Mutex<[RestoreCheckpoint]>([])
        let progress = Mutex<[Double]>([])
        let notes = Mutex<[String]>([])
        var last: RestoreCheckpoint? { self.checkpoints.withLock { $0.last } }
        var phases: [String] {
            self.checkpoints.withLock { $0 }.compactMap { checkpoint in
                (try? JSONSerialization.jsonObject(with: Data(checkpoint.json.utf8)) as? [String: Any])?["phase"] as? String
            }
        }
    }

    struct Fixture {
        let server: RedisServer
        let blobs: FileBlobStore
        let directory: TemporaryDirectory
        let request: RedisRestoreRequest
        let engine: RedisRestoreEngine
    }

    /// A server with an application user `app`; Coffer connects as `default` (password) or as its own user.
    /// - Parameter fastPath: whether the engine may use the replication fast path; the tests of the `RESTORE`
    ///   path turn it off (the target is on loopback, where the fast path would otherwise be taken).
    static func fixture(cofferUser: String?, fastPath: Bool = false) async throws -> Fixture {
        let server = try await RedisServer.start(password: "coffer-secret")
        let admin = try await server.connect()
        try await admin.commandExpectingSuccess(["ACL", "SETUSER", "app", "on", ">\(Self.appPassword)", "~*", "&*", "+@all"])
        if let cofferUser {
            try await admin.commandExpectingSuccess(["ACL", "SETUSER", cofferUser, "on", ">coffer-own", "~*", "&*", "+@all"])
        }
        await admin.close()
        let directory = try TemporaryDirectory(prefix: "coffer-restore")
        let blobs = try FileBlobStore(root: directory.path)
        let now = Date()
        let instance = DCSInstance(
            id: "instance-1", projectID: "project-1", name: "target", engine: "Redis", requestedEngineVersion: nil, host: "127.0.0.1",
            port: server.port, accessUser: cofferUser, password: cofferUser == nil ? "coffer-secret" : "coffer-own", description: nil,
            status: "RUNNING", capacityGB: 1, specCode: nil, backupPolicy: nil, extra: [:], createdAt: now, updatedAt: now)
        let backup = DCSBackupRecord(
            id: "backup-1", projectID: "project-1", instanceID: instance.id, name: "backup", backupType: .manual, backupFormat: .rdb,
            status: .succeed, progress: .complete, size: 0, remark: nil, errorCode: nil, period: nil, isSupportRestore: true,
            createdAt: now, updatedAt: now, executionAt: now, blobKey: "dcs/project-1/instance-1/backup-1.rdb", sha256: nil)
        let request = RedisRestoreRequest(restoreID: "restore-1", backup: backup, backupBlobKey: "dcs/project-1/instance-1/backup-1.rdb", target: instance)
        let engine = RedisRestoreEngine(
            blobs: blobs, logger: Logger(label: "coffer.test.restore"), connectTimeout: .seconds(5), commandTimeout: .seconds(20),
            replication: fastPath ? ReplicaLoader.Options() : nil)
        return Fixture(server: server, blobs: blobs, directory: directory, request: request, engine: engine)
    }

    /// Takes a backup of the fixture's server with the backup's own snapshot code.
    @discardableResult
    static func backUp(_ fixture: Fixture) async throws -> BlobInfo {
        let writer = try await fixture.blobs.makeWriter(key: fixture.request.backupBlobKey)
        let connection = try await fixture.server.connect()
        _ = try await connection.pullSnapshot(sink: { try await writer.write($0) })
        return try await writer.commit()
    }

    /// Every type (RedisDataset: strings, lists, sets, zsets, hashes, streams with groups, TTLs, in databases 0 and 3),
    /// a third database, an incompressible value over 10 MB and a function library.
    static func populate(_ connection: RedisConnection, scale: Int) async throws {
        try await RedisDataset.populate(connection, scale: scale)
        // Random hex digits: LZF cannot shrink them, so the RDB holds a record of 11 MiB.
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef".utf8)
        var bytes = [UInt8]()
        bytes.reserveCapacity(11 << 20)
        for _ in 0..<((11 << 20) / 16) {
            let word = generator.next()
            for shift in stride(from: 0, to: 64, by: 4) { bytes.append(digits[Int((word >> UInt64(shift)) & 0xf)]) }
        }
        let big = String(decoding: bytes, as: UTF8.self)
        let commands: [[String]] = [
            ["SELECT", "5"], ["SET", "db5:big", big], ["SET", "db5:small", "x"], ["HSET", "db5:h", "a", "1", "b", "2"],
            ["SET", "db5:ttl", "y", "PX", "900000"], ["SELECT", "0"],
            ["FUNCTION", "LOAD", "#!lua name=cofferlib\nredis.register_function('coffer_one', function(keys, args) return 1 end)"],
        ]
        for reply in try await connection.pipeline(commands, timeout: .seconds(30)) {
            if let message = reply.errorMessage { throw RedisError.server(message) }
        }
    }

    /// The dataset, with each TTL as an absolute deadline (compared within 1 s).
    struct State: Equatable {
        var keys: [Int: [String: RedisDataset.KeyState]]
        var deadlines: [String: Int64]
        var functions: [String]

        static func == (a: State, b: State) -> Bool {
            guard a.functions == b.functions, a.deadlines.keys.sorted() == b.deadlines.keys.sorted() else { return false }
            for (key, deadline) in a.deadlines where abs(deadline - (b.deadlines[key] ?? 0)) > 1000 { return false }
            func stripped(_ keys: [Int: [String: RedisDataset.KeyState]]) -> [Int: [String: [String]]] {
                keys.mapValues { $0.mapValues { [$0.type, $0.pttl < 0 ? String($0.pttl) : "ttl"] + $0.value } }
            }
            return stripped(a.keys) == stripped(b.keys)
        }
    }

    /// What differs between two states, for a readable failure.
    static func differences(_ a: State, _ b: State) -> [String] {
        var out: [String] = []
        if a.functions != b.functions { out.append("functions \(a.functions) vs \(b.functions)") }
        for database in Set(a.keys.keys).union(b.keys.keys).sorted() {
            let left = a.keys[database] ?? [:]
            let right = b.keys[database] ?? [:]
            for name in Set(left.keys).union(right.keys).sorted() {
                let l = left[name]
                let r = right[name]
                if l?.type != r?.type || l?.value != r?.value || (l?.pttl ?? 0 < 0) != (r?.pttl ?? 0 < 0) {
                    out.append("\(database)/\(name): \(String(describing: l).prefix(300)) vs \(String(describing: r).prefix(300))")
                }
            }
        }
        for (key, deadline) in a.deadlines where abs(deadline - (b.deadlines[key] ?? 0)) > 1000 {
            out.append("deadline \(key): \(deadline) vs \(String(describing: b.deadlines[key]))")
        }
        return out
    }

    static func state(_ connection: RedisConnection) async throws -> State {
        let keys = try await RedisDataset.snapshot(connection).filter { !$0.value.isEmpty }
        // Absolute deadlines as the server holds them (a PTTL read later in a slow scan would drift).
        var deadlines: [String: Int64] = [:]
        for (database, entries) in keys {
            try await connection.commandExpectingSuccess(["SELECT", "\(database)"])
            for (name, entry) in entries where entry.pttl >= 0 {
                deadlines["\(database)/\(name)"] = try await connection.commandExpectingSuccess(["PEXPIRETIME", name]).integer ?? -1
            }
        }
        try await connection.commandExpectingSuccess(["SELECT", "0"])
        let list = try await connection.commandExpectingSuccess(["FUNCTION", "LIST", "WITHCODE"])
        return State(keys: keys, deadlines: deadlines, functions: Self.flatten(list).sorted())
    }

    static func flatten(_ value: RESPValue) -> [String] {
        switch value {
        case .array(let items?): items.flatMap(Self.flatten)
        case .integer(let n): [String(n)]
        case .bulkString(let bytes?): [String(buffer: bytes)]
        case .simpleString(let text): [text]
        default: []
        }
    }

    /// The ACL users and whether each is on.
    static func users(_ connection: RedisConnection) async throws -> [String: Bool] {
        let lines = try await connection.commandExpectingSuccess(["ACL", "LIST"]).array ?? []
        var users: [String: Bool] = [:]
        for line in lines.compactMap(\.string) {
            let tokens = line.split(separator: " ")
            users[String(tokens[1])] = tokens.contains("on")
        }
        return users
    }

    /// Users are back, no temporary user, no safety snapshot.
    static func expectCleanedUp(_ fixture: Fixture, admin: RedisConnection) async throws {
        let users = try await Self.users(admin)
        #expect(users["app"] == true)
        #expect(users["default"] == true)
        #expect(!users.keys.contains { $0.hasPrefix("coffer-restore-") })
        #expect(await fixture.blobs.exists(key: "dcs-restore/project-1/restore-1/safety.rdb") == false)
        // The backlog TTL lowered for the restore is back to the server's default.
        #expect(try await admin.command(["CONFIG", "GET", "repl-backlog-ttl"]).array?.last?.string == "3600")
        let app = try await RedisConnection.connect(to: fixture.server.endpoint(username: "app", password: Self.appPassword), timeout: .seconds(5), logger: Logger(label: "app"))
        try await app.commandExpectingSuccess(["SET", "app-after", "1"])
        try await app.commandExpectingSuccess(["DEL", "app-after"])
        await app.close()
    }

    @Test("a dataset of every type comes back as it was at backup time, fenced while it is written")
    func fullRestore() async throws {
        let fixture = try await Self.fixture(cofferUser: nil)
        defer { fixture.directory.remove() }
        let admin = try await fixture.server.connect(timeout: .seconds(30))
        try await Self.populate(admin, scale: 40)
        try await admin.commandExpectingSuccess(["SET", "soon-gone", "v", "PX", "1500"])
        try await Self.backUp(fixture)
        var expected = try await Self.state(admin)
        expected.keys[0]?["soon-gone"] = nil
        expected.deadlines["0/soon-gone"] = nil
        #expect(expected.keys.keys.sorted() == [0, 3, 5])

        // Mutate: new keys (also in a new database), deleted keys, changed values and TTLs, a new function.
        for reply in try await admin.pipeline([
            ["SET", "new-key", "1"], ["DEL", "db0:1:hash", "db3:2:list", "db5:small"], ["SET", "db0:3:text", "changed"],
            ["PERSIST", "db0:4:ttl"], ["PEXPIRE", "db0:5:ttl", "5000"], ["EXPIRE", "db0:6:int", "100"], ["RPUSH", "db0:7:list", "extra"],
            ["SELECT", "9"], ["SET", "db9:new", "1"], ["SELECT", "0"],
            ["FUNCTION", "LOAD", "#!lua name=otherlib\nredis.register_function('other_one', function(keys, args) return 2 end)"],
        ]) {
            #expect(reply.errorMessage == nil)
        }
        try await Task.sleep(for: .milliseconds(1600))

        let app = try await RedisConnection.connect(
            to: fixture.server.endpoint(username: "app", password: Self.appPassword), timeout: .seconds(5), logger: Logger(label: "app"))
        let recorder = Recorder()
        let server = fixture.server
        let summary = try await fixture.engine.restore(
            fixture.request,
            save: { checkpoint in
                recorder.checkpoints.withLock { $0.append(checkpoint) }
                guard checkpoint.json.contains("\"phase\":\"writing\"") else { return }
                // The fence holds: the application's connection was killed and its AUTH fails.
                let killed = (try? await app.command(["SET", "app-during", "1"])) == nil
                let refused: Bool
                do {
                    // (A connection dropped without `close()` traps in NIO's writer, so close it when the fence fails.)
                    try await RedisConnection.connect(to: server.endpoint(username: "app", password: Self.appPassword), timeout: .seconds(5), logger: Logger(label: "app")).close()
                    refused = false
                } catch RedisError.authenticationFailed {
                    refused = true
                } catch {
                    refused = false
                }
                // `default` is fenced too: Coffer works through its temporary user.
                let asDefault = try? await RedisConnection.connect(to: server.endpoint, timeout: .seconds(5), logger: Logger(label: "default"))
                await asDefault?.close()
                let defaultRefused = asDefault == nil
                recorder.notes.withLock { $0.append("killed=\(killed) refused=\(refused) default=\(defaultRefused)") }
            },
            progress: { fraction in recorder.progress.withLock { $0.append(fraction) } })

        // The fence killed every connection of `default`, this test's own included.
        await admin.close()
        let reconnected = try await fixture.server.connect(timeout: .seconds(30))
        #expect(summary.path == .restoreCommands)
        #expect(recorder.notes.withLock { $0 } == ["killed=true refused=true default=true"])
        #expect(recorder.phases.first == "fencing")
        #expect(recorder.phases.last == "completed")
        #expect(recorder.checkpoints.withLock { $0.last?.json.contains("\"backlog_ttl\":\"3600\"") } == true)
        #expect(recorder.progress.withLock { $0.last } == 1)
        let after = try await Self.state(reconnected)
        #expect(after.keys.keys.sorted() == expected.keys.keys.sorted())
        for (database, keys) in expected.keys {
            for (name, state) in keys {
                let restored = after.keys[database]?[name]
                #expect(restored?.type == state.type, "\(database)/\(name)")
                #expect(restored?.value == state.value, "\(database)/\(name)")
            }
            #expect(after.keys[database]?.keys.sorted() == keys.keys.sorted())
        }
        #expect(after == expected)
        #expect(after.keys[5]?["db5:big"]?.value.first?.utf8.count == 11 << 20)
        #expect(after.functions.contains("cofferlib") && !after.functions.contains("otherlib"))
        #expect(summary.keys == expected.keys.values.map(\.count).reduce(0, +))
        try await Self.expectCleanedUp(fixture, admin: reconnected)
        await reconnected.close()
        await fixture.server.stop()
    }

    /// `REDIS0010`, database 0, three good strings, then `record` (type byte, key, value blob), then the CRC.
    static func handBuiltRDB(type: UInt8, key: [UInt8], blob: [UInt8], version: String = "0010") -> [UInt8] {
        var bytes = Array("REDIS\(version)".utf8) + [0xFE, 0x00]
        for i in 0..<3 {
            let name = Array("good-\(i)".utf8)
            bytes += [0x00, UInt8(name.count)] + name + [0x05] + Array("value".utf8)
        }
        bytes += [type, UInt8(key.count)] + key + [UInt8(blob.count)] + blob + [0xFF]
        var crc = CRC64()
        crc.update(bytes)
        return bytes + (0..<8).map { UInt8(truncatingIfNeeded: crc.value >> (8 * UInt64($0))) }
    }

    @Test("the fast path: the target replicates the backup from Coffer, and a file with a type it does not know goes the RESTORE way")
    func fastPath() async throws {
        let fixture = try await Self.fixture(cofferUser: nil, fastPath: true)
        defer { fixture.directory.remove() }
        let admin = try await fixture.server.connect(timeout: .seconds(30))
        try await RedisDataset.populate(admin, scale: 20)
        // The digest the backup job records: with it the engine hashes the file instead of walking its records.
        var request = fixture.request
        request.backup.sha256 = try await Self.backUp(fixture).sha256
        let expected = try await Self.state(admin)
        for reply in try await admin.pipeline([["SET", "new-key", "1"], ["DEL", "db0:1:hash"], ["SET", "db0:3:text", "changed"]]) {
            if case .error(let message) = reply { Issue.record("\(message)") }
        }
        await admin.close()
        let recorder = Recorder()
        let summary = try await fixture.engine.restore(
            request, save: { checkpoint in recorder.checkpoints.withLock { $0.append(checkpoint) } }, progress: { _ in })
        #expect(summary.path == .replication)
        #expect(recorder.phases.allSatisfy { $0 == "replicating" } && !recorder.phases.isEmpty)
        let again = try await fixture.server.connect()
        let after = try await Self.state(again)
        #expect(after == expected, "\(Self.differences(expected, after).prefix(5))")
        // A master again, taking writes, with its loading mode put back.
        #expect(try await again.info("replication").value("role", in: "replication") == "master")
        #expect(try await again.command(["SET", "after", "1"]).string == "OK")
        #expect(try await again.command(["CONFIG", "GET", "repl-diskless-load"]).array?.last?.string == "disabled")
        try await Self.expectCleanedUp(fixture, admin: again)

        // Type 20 (7.2's set listpack) in a version-10 file: a replica would exit on it, so the engine takes the
        // RESTORE path, which refuses the key and rolls back.
        _ = try await again.command(["DEL", "after"])
        let before = try await Self.state(again)
        try await fixture.blobs.delete(key: fixture.request.backupBlobKey)
        let writer = try await fixture.blobs.makeWriter(key: fixture.request.backupBlobKey)
        try await writer.write(contentsOf: Self.handBuiltRDB(type: 20, key: Array("newer".utf8), blob: [1, 2, 3]))
        _ = try await writer.commit()
        let second = Recorder()
        await #expect(throws: RedisRestoreError.self) {
            _ = try await fixture.engine.restore(
                fixture.request, save: { checkpoint in second.checkpoints.withLock { $0.append(checkpoint) } }, progress: { _ in })
        }
        #expect(!second.phases.contains("replicating"))
        let last = try await fixture.server.connect()
        #expect(try await Self.state(last) == before)
        #expect(try await last.info("replication").value("role", in: "replication") == "master")
        await last.close()
        await again.close()
        await fixture.server.stop()
    }

    @Test("a record the target refuses, or a type it does not know, rolls the target back exactly")
    func refusedRecordRollsBack() async throws {
        let fixture = try await Self.fixture(cofferUser: "coffer")
        defer { fixture.directory.remove() }
        let admin = try await fixture.server.connect()
        try await RedisDataset.populate(admin, scale: 10)
        try await admin.commandExpectingSuccess(["FUNCTION", "LOAD", "#!lua name=before\nredis.register_function('before_fn', function(keys, args) return 1 end)"])
        let before = try await Self.state(admin)
        // An intset whose encoding field (3) is none of 2, 4, 8: the target answers `Bad data format`.
        let refused = Self.handBuiltRDB(type: 11, key: Array("bad-intset".utf8), blob: [3, 0, 0, 0, 1, 0, 0, 0, 1, 2, 3])
        // A set listpack (type 20, Redis 7.2) into 7.0: the engine refuses it by the downgrade rule.
        // In a version 10 file (as a hand-edited one could be) it is found while writing; in a version 11 file (7.2's)
        // the plan reads the file first and refuses before anything changes.
        let newer = Self.handBuiltRDB(type: 20, key: Array("new\u{1}type".utf8), blob: [1, 2, 3])
        let newerFile = Self.handBuiltRDB(type: 20, key: Array("new\u{1}type".utf8), blob: [1, 2, 3], version: "0011")
        let cases = [
            (refused, "key \"bad-intset\" (type 11)", true), (newer, "key \"new\\x01type\" has RDB type 20", true),
            (newerFile, "key \"new\\x01type\" has RDB type 20", false),
        ]
        for (rdb, fragment, writes) in cases {
            try await fixture.blobs.delete(key: fixture.request.backupBlobKey)
            let writer = try await fixture.blobs.makeWriter(key: fixture.request.backupBlobKey)
            try await writer.write(contentsOf: rdb)
            _ = try await writer.commit()
            let recorder = Recorder()
            do {
                _ = try await fixture.engine.restore(
                    fixture.request, save: { checkpoint in recorder.checkpoints.withLock { $0.append(checkpoint) } }, progress: { _ in })
                Issue.record("the restore succeeded")
            } catch let error as RedisRestoreError {
                #expect(error.code == .synchronization)
                #expect(error.message.contains(fragment), "\(error.message)")
            }
            #expect(recorder.phases.contains("writing") == writes)
            #expect(recorder.phases.isEmpty == !writes)
            let again = try await fixture.server.connect()
            let after = try await Self.state(again)
            #expect(after == before, "\(Self.differences(before, after).prefix(5))")
            try await Self.expectCleanedUp(fixture, admin: again)
            await again.close()
        }
        await admin.close()
        await fixture.server.stop()
    }

    /// Many small keys, so the restore runs several batches.
    static func populateMany(_ connection: RedisConnection) async throws {
        try await RedisDataset.populate(connection, scale: 20)
        let commands = (0..<1500).map { ["SET", "many:\($0)", String(repeating: "m", count: $0 % 50)] }
        for batch in stride(from: 0, to: commands.count, by: 500) {
            _ = try await connection.pipeline(Array(commands[batch..<batch + 500]))
        }
    }

    @Test("Redis killed mid-restore: the restore fails with a synchronization or Redis code, without hanging")
    func killedTarget() async throws {
        let fixture = try await Self.fixture(cofferUser: nil)
        defer { fixture.directory.remove() }
        let admin = try await fixture.server.connect()
        try await Self.populateMany(admin)
        try await Self.backUp(fixture)
        await admin.close()
        let server = fixture.server
        let started = ContinuousClock.now
        do {
            _ = try await fixture.engine.restore(
                fixture.request, save: { _ in },
                progress: { fraction in
                    if fraction < 1 { server.kill() }
                })
            Issue.record("the restore succeeded")
        } catch let error as RedisRestoreError {
            #expect(error.code == .synchronization || error.code == .redis, "\(error)")
        }
        #expect(ContinuousClock.now - started < .seconds(30))
        await fixture.server.stop()
    }

    @Test("Coffer dies mid-restore: recovery closes a stalled writer, puts the target back from the last checkpoint, twice harmlessly")
    func crashThenRecover() async throws {
        let fixture = try await Self.fixture(cofferUser: nil)
        defer { fixture.directory.remove() }
        let admin = try await fixture.server.connect()
        try await Self.populateMany(admin)
        try await Self.backUp(fixture)
        // The target moves on after the backup: recovery must give back this state, not the backup's.
        try await admin.commandExpectingSuccess(["SET", "after-backup", "1"])
        try await admin.commandExpectingSuccess(["DEL", "many:1", "many:2"])
        let before = try await Self.state(admin)
        let recorder = Recorder()
        let writing = Mutex(false)
        let engine = fixture.engine
        let request = fixture.request
        let task = Task {
            try await engine.restore(
                request, save: { checkpoint in recorder.checkpoints.withLock { $0.append(checkpoint) } },
                progress: { fraction in
                    guard fraction < 1 else { return }
                    writing.withLock { $0 = true }
                    try? await Task.sleep(for: .seconds(60))
                })
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while !writing.withLock({ $0 }) && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(writing.withLock { $0 })
        task.cancel()
        _ = try? await task.value
        let checkpoint = try #require(recorder.last)
        #expect(recorder.phases.last == "writing")
        // Mid-restore: the fence is up (`default` too: the test's own connection was killed, only the temporary user works).
        let temporary = try await RedisConnection.connect(
            to: fixture.server.endpoint(username: "coffer-restore-restore-1", password: "coffer-secret"), timeout: .seconds(5), logger: Logger(label: "t"))
        let users = try await Self.users(temporary)
        #expect(users["app"] == false && users["default"] == false)

        // A writer of the cancelled attempt is still connected, as a node that stalled past its lease would be: it
        // writes until the recovery closes its connection, and none of its writes may outlive the rollback.
        let stalled = StrayWriter(temporary, keyPrefix: "stray")
        try await stalled.waitForWrites(20, until: deadline)
        #expect(stalled.writes >= 20, "the stalled writer never wrote")
        let fresh = RedisRestoreEngine(blobs: fixture.blobs, logger: Logger(label: "coffer.test.recovery"), connectTimeout: .seconds(5), replication: nil)
        #expect(try await fresh.recover(request, from: checkpoint) == .rolledBack)
        await stalled.stopped()
        await temporary.close()
        let admin2 = try await fixture.server.connect()
        let recovered = try await Self.state(admin2)
        #expect(recovered == before, "\(Self.differences(before, recovered).prefix(5))")
        try await Self.expectCleanedUp(fixture, admin: admin2)
        #expect(try await fresh.recover(request, from: checkpoint) == .rolledBack)
        #expect(try await Self.state(admin2) == before)
        try await Self.expectCleanedUp(fixture, admin: admin2)
        await admin2.close()
        await fixture.server.stop()
    }
}
