@testable import CofferRedis
import CofferTestSupport
import Foundation
import Logging
import NIOCore
import Synchronization
import Testing

/// A counter shared with `@Sendable` closures (an `Atomic` cannot be captured by copy).
final class Counter: Sendable {
    private let atomic = Atomic<Int>(0)
    func add(_ amount: Int) { self.atomic.add(amount, ordering: .relaxed) }
    var value: Int { self.atomic.load(ordering: .relaxed) }
}

/// The restore fast path against real `redis-server`s: the target replicates from Coffer's one-shot listener.
@Suite("Replica loader: restore by acting as the target's master", .timeLimit(.minutes(2)))
struct ReplicaLoaderTests {
    /// An RDB pulled from a source server, kept in memory, and what the source held.
    struct Snapshot: Sendable {
        var bytes: ByteBuffer
        var version: Int
        var keys: Int
        var state: [Int: [String: RedisDataset.KeyState]]

        /// A chunk source over the bytes (64 KiB chunks) that throws once `failAfter` bytes were handed out,
        /// and counts what it handed out.
        func chunks(failAfter: Int? = nil, served: Counter? = nil) -> @Sendable () async throws -> ByteBuffer? {
            let offset = Mutex(0)
            let bytes = self.bytes
            return {
                let slice = try offset.withLock { offset -> ByteBuffer? in
                    if let failAfter, offset >= failAfter { throw CancellationError() }
                    let remaining = bytes.readableBytes - offset
                    guard remaining > 0 else { return nil }
                    let count = min(64 * 1024, remaining, failAfter.map { $0 - offset } ?? .max)
                    defer { offset += count }
                    return bytes.getSlice(at: bytes.readerIndex + offset, length: count)
                }
                if let slice { served?.add(slice.readableBytes) }
                return slice
            }
        }

        func payload(failAfter: Int? = nil, served: Counter? = nil) -> ReplicaLoader.Payload {
            ReplicaLoader.Payload(length: Int64(self.bytes.readableBytes), rdbVersion: self.version, chunks: self.chunks(failAfter: failAfter, served: served))
        }
    }

    static let function = "#!lua name=cofferlib\nredis.register_function('coffer_answer', function() return 42 end)"

    /// Populates a throw-away server (every type, databases 0 and 3, TTLs, streams with groups, a function)
    /// and pulls its RDB.
    static func snapshot(scale: Int) async throws -> Snapshot {
        try await RedisServer.withServer(extraArguments: ["--repl-diskless-sync", "no"]) { source in
            let connection = try await source.connect()
            let keys = try await RedisDataset.populate(connection, scale: scale)
            try await connection.commandExpectingSuccess(["FUNCTION", "LOAD", Self.function])
            let state = try await RedisDataset.snapshot(connection)
            await connection.close()
            let collected = Mutex(ByteBuffer())
            let summary = try await source.connect().pullSnapshot(sink: { chunk in collected.withLock { _ = $0.writeImmutableBuffer(chunk) } })
            return Snapshot(bytes: collected.withLock { $0 }, version: summary.rdbVersion, keys: keys, state: state)
        }
    }

    /// Old data the restore must replace: keys only the target has (two databases), a key the snapshot also
    /// has with another value, and another function library.
    static func seedOldData(_ connection: RedisConnection) async throws {
        let replies = try await connection.pipeline([
            ["SET", "old:only", "1"], ["SET", "db0:0:int", "old value"], ["SELECT", "5"], ["HSET", "old:hash", "f", "v"], ["SELECT", "0"],
            ["FUNCTION", "LOAD", "#!lua name=oldlib\nredis.register_function('old_answer', function() return 1 end)"],
        ])
        #expect(replies.allSatisfy { $0.errorMessage == nil })
    }

    /// Records one issue per differing key (not one for the whole keyspace): same databases, names, types and
    /// values; a TTL may only have run down by the test's duration (absolute deadlines), never grown.
    static func expectSame(_ restored: [Int: [String: RedisDataset.KeyState]], _ expected: [Int: [String: RedisDataset.KeyState]]) {
        #expect(restored.keys.sorted() == expected.keys.sorted())
        for (database, keys) in expected {
            let actual = restored[database] ?? [:]
            #expect(Set(actual.keys) == Set(keys.keys), "database \(database): key names differ")
            for (name, want) in keys {
                guard let got = actual[name] else { continue }
                #expect(got.type == want.type && got.value == want.value, "db\(database) \(name): \(got) != \(want)")
                if want.pttl < 0 {
                    #expect(got.pttl == want.pttl, "db\(database) \(name): TTL \(got.pttl) != \(want.pttl)")
                } else {
                    #expect(got.pttl <= want.pttl && got.pttl > want.pttl - 120_000, "db\(database) \(name): TTL \(got.pttl) vs \(want.pttl)")
                }
            }
        }
    }

    static func role(_ connection: RedisConnection) async throws -> String? {
        try await connection.info("replication").role
    }

    static func libraries(_ connection: RedisConnection) async throws -> [String] {
        let reply = try await connection.commandExpectingSuccess(["FUNCTION", "LIST"])
        return (reply.array ?? []).compactMap { library -> String? in
            guard let fields = library.array, let index = fields.firstIndex(where: { $0.string == "library_name" }), index + 1 < fields.count else {
                return nil
            }
            return fields[index + 1].string
        }.sorted()
    }

    static func loader(_ server: RedisServer, _ options: ReplicaLoader.Options = .init()) -> ReplicaLoader {
        ReplicaLoader(target: server.endpoint, options: options, logger: testLogger)
    }

    @Test("a dataset of every type replaces the target's data; the target is a writable master afterwards")
    func restoresEverything() async throws {
        let snapshot = try await Self.snapshot(scale: 60)
        try await RedisServer.withServer(password: "pw", extraArguments: ["--repl-diskless-load", "disabled"]) { target in
            let connection = try await target.connect()
            try await Self.seedOldData(connection)
            let links = Mutex<[ReplicaLink]>([])
            let fractions = Mutex<[Double]>([])
            let summary = try await Self.loader(target).load(
                snapshot.payload(), onLink: { link in links.withLock { $0.append(link) } },
                progress: { fraction in fractions.withLock { $0.append(fraction) } })

            #expect(summary.keys == snapshot.keys)
            #expect(summary.bytes == Int64(snapshot.bytes.readableBytes))
            let restored = try await RedisDataset.snapshot(connection)
            #expect(restored[0]?["old:only"] == nil)
            #expect(restored[5] == nil)
            #expect(restored[0]?["db0:0:int"]?.value == ["0"])
            Self.expectSame(restored, snapshot.state)
            #expect(try await Self.libraries(connection) == ["cofferlib"])
            #expect(try await Self.role(connection) == "master")
            #expect(try await connection.command(["SET", "after", "restore"]) == .simpleString("OK"))
            let link = try #require(links.withLock { $0.first })
            #expect(links.withLock { $0.count } == 1)
            #expect(link.replicationID.count == 40)
            #expect(link.advertisedHost == "127.0.0.1")
            let info = try await connection.info("replication")
            #expect(info.value("master_replid2", in: "replication") == link.replicationID)
            #expect(fractions.withLock { $0.last } == 1)
            let recovered = try await ReplicaLoader.recover(target: target.endpoint, link: link, logger: testLogger)
            #expect(recovered == .loaded)
            await connection.close()
        }
    }

    @Test("a transfer cut halfway leaves the old data in place, a master, and throws rolledBack", arguments: ["disabled", "swapdb"])
    func cutHalfway(disklessLoad: String) async throws {
        let snapshot = try await Self.snapshot(scale: 400)
        try await RedisServer.withServer(extraArguments: ["--repl-diskless-load", disklessLoad]) { target in
            let connection = try await target.connect()
            try await Self.seedOldData(connection)
            let before = try await RedisDataset.snapshot(connection)
            let replidBefore = try await connection.info("replication").value("master_replid", in: "replication")
            let served = Counter()
            let half = snapshot.bytes.readableBytes / 2
            let links = Mutex<[ReplicaLink]>([])
            do {
                _ = try await Self.loader(target).load(snapshot.payload(failAfter: half, served: served), onLink: { link in links.withLock { $0.append(link) } })
                Issue.record("the load succeeded although the chunk source failed")
            } catch let error as ReplicaLoadError {
                guard case .rolledBack(let detail) = error else {
                    Issue.record("expected rolledBack, got \(error)")
                    return
                }
                #expect(detail.contains("reading the backup failed"))
            }
            #expect(served.value == half)
            #expect(try await Self.role(connection) == "master")
            #expect(try await RedisDataset.snapshot(connection) == before)
            #expect(try await Self.libraries(connection) == ["oldlib"])
            let info = try await connection.info("replication")
            #expect(info.value("master_replid2", in: "replication") == replidBefore)
            #expect(try await connection.command(["SET", "after", "rollback"]) == .simpleString("OK"))
            let link = try #require(links.withLock { $0.first })
            let recovered = try await ReplicaLoader.recover(target: target.endpoint, link: link, logger: testLogger)
            #expect(recovered == .notLoaded(datasetUnchanged: true))
            await connection.close()
        }
    }

    @Test("cancelling the caller mid-transfer detaches the target: rolledBack, old data in place, a master")
    func cancelled() async throws {
        let snapshot = try await Self.snapshot(scale: 400)
        try await RedisServer.withServer { target in
            let connection = try await target.connect()
            try await Self.seedOldData(connection)
            let before = try await RedisDataset.snapshot(connection)
            let served = Counter()
            let fast = snapshot.chunks(served: served)
            // 64 KiB every 50 ms, so the transfer is surely still running when the cancel comes.
            let slow: @Sendable () async throws -> ByteBuffer? = {
                try await Task.sleep(for: .milliseconds(50))
                return try await fast()
            }
            let loader = Self.loader(target)
            let task = Task {
                try await loader.load(.init(length: Int64(snapshot.bytes.readableBytes), rdbVersion: snapshot.version, chunks: slow))
            }
            let deadline = ContinuousClock.now + .seconds(20)
            while served.value == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            try await Task.sleep(for: .milliseconds(100))
            task.cancel()
            do {
                _ = try await task.value
                Issue.record("a cancelled load succeeded")
            } catch let error as ReplicaLoadError {
                #expect(error == .rolledBack("cancelled"))
            }
            #expect(served.value > 0 && served.value < snapshot.bytes.readableBytes)
            #expect(try await Self.role(connection) == "master")
            #expect(try await RedisDataset.snapshot(connection) == before)
            await connection.close()
        }
    }

    @Test("a target killed mid-transfer: the load throws unverified, since nobody can confirm anything")
    func targetKilled() async throws {
        let snapshot = try await Self.snapshot(scale: 400)
        let target = try await RedisServer.start()
        let served = Counter()
        let fast = snapshot.chunks(served: served)
        let slow: @Sendable () async throws -> ByteBuffer? = {
            try await Task.sleep(for: .milliseconds(50))
            return try await fast()
        }
        let loader = Self.loader(target, .init(commandTimeout: .seconds(2)))
        let task = Task { try await loader.load(.init(length: Int64(snapshot.bytes.readableBytes), rdbVersion: snapshot.version, chunks: slow)) }
        let deadline = ContinuousClock.now + .seconds(20)
        while served.value == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        target.kill()
        do {
            _ = try await task.value
            Issue.record("the load succeeded although the target died")
        } catch let error as ReplicaLoadError {
            guard case .unverified = error else {
                Issue.record("expected unverified, got \(error)")
                await target.stop()
                return
            }
        }
        await target.stop()
    }

    @Test("an advertised address the target cannot reach is not applicable, within a few seconds, data intact")
    func unreachable() async throws {
        let snapshot = try await Self.snapshot(scale: 5)
        try await RedisServer.withServer { target in
            let connection = try await target.connect()
            try await Self.seedOldData(connection)
            let before = try await RedisDataset.snapshot(connection)
            let closedPort = try FreePort.next()
            let served = Counter()
            let started = ContinuousClock.now
            do {
                _ = try await Self.loader(target, .init(advertisedPort: closedPort, connectTimeout: .seconds(2))).load(snapshot.payload(served: served))
                Issue.record("the load succeeded through a closed port")
            } catch let error as ReplicaLoadError {
                guard case .notApplicable(.unreachable, _) = error else {
                    Issue.record("expected notApplicable(unreachable), got \(error)")
                    return
                }
            }
            #expect(ContinuousClock.now - started < .seconds(6))
            #expect(served.value == 0)
            #expect(try await Self.role(connection) == "master")
            #expect(try await RedisDataset.snapshot(connection) == before)
            await connection.close()
        }
    }

    @Test("an RDB newer than the target's server is not applicable before REPLICAOF")
    func newerRDBVersion() async throws {
        var snapshot = try await Self.snapshot(scale: 5)
        snapshot.bytes.setString("REDIS0012", at: snapshot.bytes.readerIndex)
        snapshot.version = 12
        try await RedisServer.withServer { target in
            let connection = try await target.connect()
            try await Self.seedOldData(connection)
            let before = try await RedisDataset.snapshot(connection)
            let replidBefore = try await connection.info("replication").value("master_replid", in: "replication")
            let served = Counter()
            let linked = Counter()
            do {
                _ = try await Self.loader(target).load(snapshot.payload(served: served), onLink: { _ in linked.add(1) })
                Issue.record("a version-12 RDB was offered to a 7.0 server")
            } catch let error as ReplicaLoadError {
                guard case .notApplicable(.rdbVersionTooNew, _) = error else {
                    Issue.record("expected notApplicable(rdbVersionTooNew), got \(error)")
                    return
                }
            }
            #expect(linked.value == 0)
            #expect(served.value == 0)
            let info = try await connection.info("replication")
            #expect(info.role == "master")
            #expect(info.value("master_replid", in: "replication") == replidBefore)
            #expect(try await RedisDataset.snapshot(connection) == before)
            await connection.close()
        }
    }

    @Test("a user without +replicaof gets not applicable, nothing changed")
    func replicaofRefused() async throws {
        let snapshot = try await Self.snapshot(scale: 5)
        try await RedisServer.withServer { target in
            let connection = try await target.connect()
            try await Self.seedOldData(connection)
            try await connection.commandExpectingSuccess(["ACL", "SETUSER", "restorer", "on", ">secret", "~*", "&*", "+@all", "-replicaof", "-slaveof"])
            let before = try await RedisDataset.snapshot(connection)
            let loader = ReplicaLoader(target: target.endpoint(username: "restorer", password: "secret"), logger: testLogger)
            do {
                _ = try await loader.load(snapshot.payload())
                Issue.record("REPLICAOF went through without the right")
            } catch let error as ReplicaLoadError {
                guard case .notApplicable(.replicaofRefused, let detail) = error else {
                    Issue.record("expected notApplicable(replicaofRefused), got \(error)")
                    return
                }
                #expect(detail.hasPrefix("NOPERM"))
            }
            #expect(try await Self.role(connection) == "master")
            #expect(try await RedisDataset.snapshot(connection) == before)
            await connection.close()
        }
    }

    @Test("a cluster-mode target and a target that already replicates are not applicable")
    func probeRefusals() async throws {
        // The cluster bus listens on port + 10000 unless told otherwise, which random high ports overflow.
        let busPort = try FreePort.next()
        try await RedisServer.withServer(extraArguments: ["--cluster-enabled", "yes", "--cluster-port", "\(busPort)"]) { target in
            await #expect(throws: ReplicaLoadError.self) { try await Self.loader(target).probe(rdbVersion: 10) }
            do {
                try await Self.loader(target).probe(rdbVersion: 10)
            } catch let error as ReplicaLoadError {
                #expect(error.description.contains("clusterMode"))
            }
        }
        try await RedisServer.withServer { master in
            try await RedisServer.withServer { replica in
                let connection = try await replica.connect()
                try await connection.commandExpectingSuccess(["REPLICAOF", "127.0.0.1", "\(master.port)"])
                do {
                    try await Self.loader(replica).probe(rdbVersion: 10)
                    Issue.record("a replica passed the probe")
                } catch let error as ReplicaLoadError {
                    #expect(error == .notApplicable(.alreadyReplica, "the target already replicates another master"))
                }
                #expect(try await Self.role(connection) == "slave")
                await connection.close()
            }
        }
    }

    @Test("a stranger connecting to the listener first is refused; the target is still served")
    func strangerRefused() async throws {
        let snapshot = try await Self.snapshot(scale: 5)
        try await RedisServer.withServer { target in
            let outcome = Mutex<String>("not run")
            let summary = try await Self.loader(target).load(snapshot.payload(), onLink: { link in
                let stranger = try await RedisConnection.connect(
                    to: RedisEndpoint(host: link.advertisedHost, port: link.advertisedPort), timeout: .seconds(2), logger: testLogger)
                do {
                    let reply = try await stranger.command(["PSYNC", String(repeating: "a", count: 40), "1"])
                    outcome.withLock { $0 = "answered \(reply)" }
                } catch {
                    outcome.withLock { $0 = "closed" }
                }
                await stranger.close()
            })
            #expect(outcome.withLock { $0 } == "closed")
            #expect(summary.keys == snapshot.keys)
        }
    }

    @Test("recover after a crash while the target is still our replica: loaded, or not loaded and intact; master afterwards")
    func recoverAfterCrash() async throws {
        let snapshot = try await Self.snapshot(scale: 20)
        try await RedisServer.withServer { target in
            let connection = try await target.connect()
            try await Self.seedOldData(connection)
            let replid = try #require(try await connection.info("replication").value("master_replid", in: "replication"))
            // The listener alone, as a crashed loader leaves it: served, then gone without REPLICAOF NO ONE.
            let listener = try await ReplicaMasterListener.bind(host: "127.0.0.1", port: 0, logger: testLogger)
            let link = ReplicaLink(
                replicationID: ReplicaLoader.randomReplicationID(), targetReplicationID: replid, advertisedHost: "127.0.0.1", advertisedPort: listener.port)
            let serving = Task {
                await listener.run(
                    .init(
                        replicationID: link.replicationID, expectedReplicaID: replid, length: Int64(snapshot.bytes.readableBytes), chunks: snapshot.chunks(),
                        pingInterval: .seconds(1)))
            }
            try await connection.commandExpectingSuccess(["REPLICAOF", "127.0.0.1", "\(listener.port)"])
            let deadline = ContinuousClock.now + .seconds(20)
            while ContinuousClock.now < deadline, !ReplicaLoader.isLoaded(try await connection.info(), link: link) {
                try await Task.sleep(for: .milliseconds(20))
            }
            await listener.close()
            await serving.value
            #expect(try await Self.role(connection) == "slave")
            #expect(try await ReplicaLoader.recover(target: target.endpoint, link: link, logger: testLogger) == .loaded)
            #expect(try await Self.role(connection) == "master")
            #expect(try await connection.command(["GET", "old:only"]) == .bulkString(nil))

            // Crashed before the target connected: it replicates from a dead address and never loaded anything.
            try await connection.commandExpectingSuccess(["SET", "old:only", "again"])
            let ownID = try #require(try await connection.info("replication").value("master_replid", in: "replication"))
            let deadPort = try FreePort.next()
            try await connection.commandExpectingSuccess(["REPLICAOF", "127.0.0.1", "\(deadPort)"])
            let stale = ReplicaLink(
                replicationID: ReplicaLoader.randomReplicationID(), targetReplicationID: ownID, advertisedHost: "127.0.0.1", advertisedPort: deadPort)
            #expect(try await ReplicaLoader.recover(target: target.endpoint, link: stale, logger: testLogger) == .notLoaded(datasetUnchanged: true))
            #expect(try await Self.role(connection) == "master")
            #expect(try await connection.command(["GET", "old:only"]).string == "again")
            await connection.close()
        }
    }

    @Test("redis_version maps to the RDB version its server loads")
    func versionTable() {
        #expect(ReplicaTargetFacts.highestRDBVersion(redisVersion: "6.2.14") == 9)
        #expect(ReplicaTargetFacts.highestRDBVersion(redisVersion: "7.0.15") == 10)
        #expect(ReplicaTargetFacts.highestRDBVersion(redisVersion: "7.2.4") == 11)
        #expect(ReplicaTargetFacts.highestRDBVersion(redisVersion: "7.4.1") == 12)
        #expect(ReplicaTargetFacts.highestRDBVersion(redisVersion: "8.2.0") == 12)
        #expect(ReplicaTargetFacts.highestRDBVersion(redisVersion: "8.6.0") == 13)
        #expect(ReplicaTargetFacts.highestRDBVersion(redisVersion: "9.0.0") == 14)
        #expect(ReplicaTargetFacts.highestRDBVersion(redisVersion: "2.4.0") == nil)
        #expect(ReplicaTargetFacts.highestRDBVersion(redisVersion: "garbage") == nil)
    }

    @Test("inline and RESP commands are both read from the handshake")
    func commandParsing() throws {
        var buffer = ByteBuffer(string: "\nPING\r\n*3\r\n$8\r\nREPLCONF\r\n$4\r\ncapa\r\n$3\r\neof\r\n*2\r\n$4\r\nPSY")
        #expect(try ReplicaMasterListener.nextCommand(&buffer) == ["PING"])
        #expect(try ReplicaMasterListener.nextCommand(&buffer) == ["REPLCONF", "capa", "eof"])
        #expect(try ReplicaMasterListener.nextCommand(&buffer) == nil)
        #expect(buffer.readableBytes == 11)
    }
}
