import CofferCore
import CofferJobs
import CofferOperations
import CofferRedis
import CofferServer
import CofferStorage
import CofferTestSupport
import Foundation
import Synchronization
import HTTPTypes
import NIOCore
import Testing

/// AOF backups (`backup_format: "aof"`) end to end against real `redis-server`s: the job writes the AOF file beside
/// its RDB sidecar; the download is a file `redis-check-aof` accepts and `redis-cli --pipe` loads key by key; a
/// restore puts the data back; deletes, instance deletes and retention remove both files.
@Suite("DCS AOF backups of real Redis servers", .timeLimit(.minutes(3)))
struct DCSAOFBackupTests {
    static let library = "#!lua name=cofferlib\nredis.register_function('coffer_echo', function(keys, args) return args[1] end)"

    static func keys(_ server: TestServer, _ instanceID: String, _ backupID: String) -> (aof: String, rdb: String) {
        let stem = "dcs/\(server.projectID)/\(instanceID)/\(backupID)"
        return (stem + ".aof", stem + ".rdb")
    }

    /// `snapshot` without stream consumers' `seen-time` (and its value), which an AOF cannot carry.
    static func withoutSeenTime(_ snapshot: [Int: [String: RedisDataset.KeyState]]) -> [Int: [String: RedisDataset.KeyState]] {
        snapshot.mapValues { keys in
            keys.mapValues { state in
                guard state.type == "stream" else { return state }
                var copy = state
                copy.value = []
                var skipNext = false
                for item in state.value {
                    if skipNext {
                        skipNext = false
                    } else if item == "seen-time" {
                        skipNext = true
                    } else {
                        copy.value.append(item)
                    }
                }
                return copy
            }
        }
    }

    /// The names of the function libraries the server holds.
    static func functions(_ connection: RedisConnection) async throws -> [String] {
        let list = try await connection.commandExpectingSuccess(["FUNCTION", "LIST"]).array ?? []
        return list.compactMap { library -> String? in
            guard let fields = library.array else { return nil }
            for index in stride(from: 0, to: fields.count - 1, by: 2) where fields[index].string == "library_name" {
                return fields[index + 1].string
            }
            return nil
        }.sorted()
    }

    /// The whole content of a committed blob.
    static func contents(_ blobs: any BlobStore, _ key: String) async throws -> ByteBuffer {
        let reader = try #require(try await blobs.open(key: key))
        defer { reader.close() }
        var all = ByteBuffer()
        while true {
            var chunk = try await reader.read(at: Int64(all.readableBytes), upTo: 1 << 20)
            if chunk.readableBytes == 0 { return all }
            all.writeBuffer(&chunk)
        }
    }

    /// The AOF the second pass made before the tee (the production code until the AOF was written while the RDB
    /// streams), kept as the reference: the stored RDB sidecar read back in 1 MiB chunks, each record rewritten.
    static func secondPass(_ rdb: ByteBuffer) async throws -> ByteBuffer {
        final class Collected: Sendable {
            let bytes = Mutex(ByteBuffer())
        }
        final class Chunks: Sendable {
            let rest: Mutex<ByteBuffer>
            init(_ rdb: ByteBuffer) { self.rest = Mutex(rdb) }
            func next() -> ByteBuffer? {
                self.rest.withLock { rest in rest.readableBytes == 0 ? nil : rest.readSlice(length: min(1 << 20, rest.readableBytes)) }
            }
        }
        let collected = Collected()
        let chunks = Chunks(rdb)
        var reader = RDBRecordReader(nextChunk: { chunks.next() })
        var aof = AOFCommandWriter(sink: { chunk in
            collected.bytes.withLock { bytes in
                var chunk = chunk
                bytes.writeBuffer(&chunk)
            }
        })
        while let item = try await reader.next() {
            switch item {
            case .record(let key):
                try await aof.writeRecord(database: key.database, key: key.key, expiry: key.expiry, type: key.type, value: key.value)
            case .function(let library):
                try await aof.writeFunction(source: library)
            }
        }
        try await aof.finish()
        return collected.bytes.withLock { $0 }
    }

    /// Checks what the tee wrote against the reference: byte for byte the second pass over the same sidecar.
    static func expectSameAsSecondPass(_ server: TestServer, _ instanceID: String, _ backupID: String) async throws -> ByteBuffer {
        let keys = Self.keys(server, instanceID, backupID)
        let aof = try await Self.contents(server.parts.store.blobs, keys.aof)
        let reference = try await Self.secondPass(try await Self.contents(server.parts.store.blobs, keys.rdb))
        #expect(aof.readableBytes == reference.readableBytes)
        #expect(aof == reference, "the tee's AOF equals the second pass's, byte for byte")
        return aof
    }

    @Test("AOF backup: record says aof, link serves a .aof that redis-check-aof accepts and --pipe loads key by key; restore; delete removes both files")
    func endToEnd() async throws {
        try await RedisServer.withServer(password: "redis-pw", extraArguments: DCSBackupTests.redisArguments(diskless: "yes")) { redis in
            let writer = try await redis.connect()
            try await RedisDataset.populate(writer, scale: 80)
            _ = try await writer.commandExpectingSuccess(["FUNCTION", "LOAD", Self.library])
            let original = try await RedisDataset.snapshot(writer)
            try await TestServer.run { server in
                let instanceID = try await DCSBackupTests.adopt(server, redis)
                let created = try await DCSBackupTests.requestBackup(server, instanceID, json: #"{"remark": "aof", "backup_format": "aof"}"#)
                #expect(created.status == .ok, "\(String(buffer: created.body))")
                let backupID = try #require(created.json["backup_id"] as? String)
                #expect(try await DCSBackupTests.record(server, instanceID, backupID)["backup_format"] as? String == "aof")
                let job = try #require(try await server.parts.worker.runOnce())
                #expect(job.status == .succeeded)
                let record = try await DCSBackupTests.record(server, instanceID, backupID)
                #expect(record["status"] as? String == "succeed")
                #expect(record["backup_format"] as? String == "aof")
                #expect(record["progress"] as? String == "100.00")
                #expect(record["is_support_restore"] as? String == "TRUE")
                let keys = Self.keys(server, instanceID, backupID)
                let blobs = server.parts.store.blobs
                #expect(await blobs.exists(key: keys.aof))
                #expect(await blobs.exists(key: keys.rdb), "the RDB sidecar")
                let size = try #require(record["size"] as? Int)
                let aofReader = try #require(try await blobs.open(key: keys.aof))
                #expect(Int(aofReader.size) == size, "size is the AOF file's")
                aofReader.close()
                _ = try await Self.expectSameAsSecondPass(server, instanceID, backupID)

                // The link serves the AOF file under a .aof name.
                let links = try await server.signed(
                    .post, "/v2/\(server.projectID)/instances/\(instanceID)/backups/\(backupID)/links", json: #"{"expiration": 600}"#)
                let item = try #require((links.json["links"] as? [[String: Any]])?.first)
                let fileName = try #require(item["file_name"] as? String)
                #expect(fileName.hasPrefix("redis_127.0.0.1_\(redis.port)_") && fileName.hasSuffix(".aof"), "\(fileName)")
                let link = try #require(item["link"] as? String)
                let download = try await server.raw(.get, String(link.dropFirst("http://localhost".count)))
                #expect(download.status == .ok)
                #expect(download.body.readableBytes == size)
                #expect(String(buffer: download.body).hasPrefix("*"), "a RESP command file, not an RDB")

                let directory = try TemporaryDirectory(prefix: "coffer-aof-download")
                defer { directory.remove() }
                let file = directory.file("backup.aof")
                try Data(download.body.readableBytesView).write(to: file)
                let check = try ProcessRunner.run("redis-check-aof", [file.path])
                #expect(check.status == 0, "\(check.output)")

                try await RedisServer.withServer { fresh in
                    let pipe = try ProcessRunner.run("bash", ["-c", "redis-cli -h 127.0.0.1 -p \(fresh.port) --pipe < '\(file.path)'"])
                    #expect(pipe.status == 0, "\(pipe.output)")
                    #expect(pipe.output.contains("errors: 0"), "\(pipe.output)")
                    let loaded = try await fresh.connect()
                    // An AOF does not keep stream consumers' seen-time (documented); everything else must match.
                    DCSRestoreTests.expectSame(Self.withoutSeenTime(try await RedisDataset.snapshot(loaded)), Self.withoutSeenTime(original))
                    #expect(try await Self.functions(loaded) == ["cofferlib"])
                    await loaded.close()
                }

                // Restore through the normal endpoint (from the sidecar): mutations gone, functions back.
                try await DCSRestoreTests.mutate(writer)
                _ = try await writer.commandExpectingSuccess(["FUNCTION", "DELETE", "cofferlib"])
                let restore = try await DCSRestoreAPITests.restore(server, instanceID, json: #"{"backup_id": "\#(backupID)"}"#)
                let restoreID = try #require(restore.json["restore_id"] as? String, "\(String(buffer: restore.body))")
                let restoreJob = try #require(try await server.parts.worker.runOnce())
                #expect(restoreJob.kind == "dcs.restore" && restoreJob.status == .succeeded)
                #expect(try await DCSRestoreTests.record(server, instanceID, restoreID)["status"] as? String == "succeed")
                let reader = try await redis.connect()
                DCSRestoreTests.expectSame(try await RedisDataset.snapshot(reader), original)
                #expect(try await Self.functions(reader) == ["cofferlib"])
                await reader.close()

                // Delete: both files go.
                #expect(try await server.signed(.delete, "/v2/\(server.projectID)/instances/\(instanceID)/backups/\(backupID)").status == .noContent)
                let removal = try #require(try await server.parts.worker.runOnce())
                #expect(removal.kind == "dcs.backup.delete" && removal.status == .succeeded)
                #expect(!(await blobs.exists(key: keys.aof)))
                #expect(!(await blobs.exists(key: keys.rdb)), "the sidecar goes too")
            }
            await writer.close()
        }
    }

    @Test(
        "The AOF written while the RDB streams equals the second pass over the sidecar, passes redis-check-aof and loads every key, TTL and big value",
        arguments: ["yes", "no"])
    func teeMatchesSecondPass(diskless: String) async throws {
        try await RedisServer.withServer(extraArguments: DCSBackupTests.redisArguments(diskless: diskless) + ["--rdbcompression", "no"]) { redis in
            let writer = try await redis.connect()
            try await RedisDataset.populate(writer, scale: 60)
            _ = try await writer.commandExpectingSuccess(["FUNCTION", "LOAD", Self.library])
            // More RDB than the tee holds (8 MiB, values stored raw: `rdbcompression no`), so the AOF side lags and
            // the pull meets the bound: a 12 MB string and a 12 MB list of 100 kB elements.
            _ = try await writer.commandExpectingSuccess(["SET", "big:string", String(repeating: "s", count: 12 << 20)])
            _ = try await writer.commandExpectingSuccess(["RPUSH", "big:list"] + (0..<120).map { String(repeating: "\($0 % 10)", count: 100_000) })
            let original = try await RedisDataset.snapshot(writer)
            await writer.close()
            try await TestServer.run { server in
                let instanceID = try await DCSBackupTests.adopt(server, redis)
                let backupID = try #require(
                    try await DCSBackupTests.requestBackup(server, instanceID, json: #"{"backup_format": "aof"}"#).json["backup_id"] as? String)
                #expect(try await server.parts.worker.runOnce()?.status == .succeeded)
                let record = try await DCSBackupTests.record(server, instanceID, backupID)
                #expect(record["status"] as? String == "succeed")
                #expect(record["progress"] as? String == "100.00")
                let aof = try await Self.expectSameAsSecondPass(server, instanceID, backupID)
                #expect(record["size"] as? Int == aof.readableBytes)

                let directory = try TemporaryDirectory(prefix: "coffer-aof-tee")
                defer { directory.remove() }
                let file = directory.file("backup.aof")
                try Data(aof.readableBytesView).write(to: file)
                let check = try ProcessRunner.run("redis-check-aof", [file.path])
                #expect(check.status == 0, "\(check.output)")
                try await RedisServer.withServer { fresh in
                    let pipe = try ProcessRunner.run("bash", ["-c", "redis-cli -h 127.0.0.1 -p \(fresh.port) --pipe < '\(file.path)'"])
                    #expect(pipe.status == 0 && pipe.output.contains("errors: 0"), "\(pipe.output)")
                    let loaded = try await fresh.connect()
                    DCSRestoreTests.expectSame(Self.withoutSeenTime(try await RedisDataset.snapshot(loaded)), Self.withoutSeenTime(original))
                    #expect(try await Self.functions(loaded) == ["cofferlib"])
                    await loaded.close()
                }
            }
        }
    }

    @Test("Redis killed while an AOF backup streams: failed with dcs.08.0001, no .aof and no .rdb, progress never went back")
    func killedMidStream() async throws {
        try await TestServer.run { server in
            // The fork child is slowed so the kill lands while bytes flow to both writers.
            let slow = try await RedisServer.start(extraArguments: DCSBackupTests.redisArguments(diskless: "yes") + ["--rdb-key-save-delay", "2000"])
            let writer = try await slow.connect()
            try await RedisDataset.populate(writer, scale: 250)
            await writer.close()
            let instanceID = try await DCSBackupTests.adopt(server, slow)
            let backupID = try #require(
                try await DCSBackupTests.requestBackup(server, instanceID, json: #"{"backup_format": "aof"}"#).json["backup_id"] as? String)
            async let outcome = server.parts.worker.runOnce()
            var seen: [Double] = []
            for _ in 0..<100 {
                try await Task.sleep(for: .milliseconds(100))
                let record = try await DCSBackupTests.record(server, instanceID, backupID)
                guard record["status"] as? String == "backuping" else { continue }
                if let progress = (record["progress"] as? String).flatMap(Double.init) { seen.append(progress) }
                if seen.count >= 25 { break }
            }
            #expect(seen.count >= 25, "the backup ran long enough to watch: \(seen)")
            #expect(seen.last ?? 0 > 0, "progress moved while streaming: \(seen)")
            #expect(seen == seen.sorted(), "progress is monotonic: \(seen)")
            slow.kill()
            let started = ContinuousClock.now
            #expect(try await outcome?.status == .failed)
            #expect(ContinuousClock.now - started < .seconds(10))
            let record = try await DCSBackupTests.record(server, instanceID, backupID)
            #expect(record["status"] as? String == "failed")
            #expect(record["error_code"] as? String == "dcs.08.0001")
            #expect(record["is_support_restore"] as? String == "FALSE")
            await slow.stop()
            let keys = Self.keys(server, instanceID, backupID)
            #expect(!(await server.parts.store.blobs.exists(key: keys.aof)))
            #expect(!(await server.parts.store.blobs.exists(key: keys.rdb)))
            let objects = try FileManager.default.subpathsOfDirectory(atPath: server.dataDirectory + "/blobs/objects")
            #expect(objects.filter { $0.hasSuffix(".aof") || $0.hasSuffix(".rdb") }.isEmpty, "\(objects)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: server.dataDirectory + "/blobs/incoming").isEmpty, "no half-written file")
        }
    }

    @Test("A snapshot whose checksum is wrong or whose record is malformed fails the AOF backup: dcs.08.0001, neither file", arguments: ["crc", "record"])
    func corruptSnapshot(corruption: String) async throws {
        try await RedisServer.withServer(extraArguments: DCSBackupTests.redisArguments(diskless: "no")) { redis in
            let writer = try await redis.connect()
            try await RedisDataset.populate(writer, scale: 30)
            _ = try await writer.commandExpectingSuccess(["SET", "marker:key", "marker-value"])
            await writer.close()
            let directory = try TemporaryDirectory(prefix: "coffer-aof-corrupt")
            defer { directory.remove() }
            let dump = directory.file("dump.rdb")
            let pulled = try ProcessRunner.run("redis-cli", ["-h", "127.0.0.1", "-p", "\(redis.port)", "--rdb", dump.path])
            #expect(pulled.status == 0, "\(pulled.output)")
            var bytes = [UInt8](try Data(contentsOf: dump))
            switch corruption {
            case "crc":
                bytes[bytes.count - 1] ^= 0xFF
            default:
                // The marker key's value gets a type byte no Redis writes (the byte before its key length).
                let key = Array("marker:key".utf8)
                let at = try #require((0...(bytes.count - key.count)).first { bytes[$0..<$0 + key.count].elementsEqual(key) })
                bytes[at - 2] = 0x63
            }
            let corrupt = directory.file("corrupt.rdb")
            try Data(bytes).write(to: corrupt)
            try await TestServer.run { server in
                let instanceID = try await DCSBackupTests.adopt(server, redis)
                await redis.stop()
                // A disk-form stand-in on the adopted port, serving the corrupt file.
                let master = try await StandInMaster(serving: corrupt, form: .disk, port: redis.port, directory: directory)
                defer { Task { await master.stop() } }
                let backupID = try #require(
                    try await DCSBackupTests.requestBackup(server, instanceID, json: #"{"backup_format": "aof"}"#).json["backup_id"] as? String)
                #expect(try await server.parts.worker.runOnce()?.status == .failed)
                let record = try await DCSBackupTests.record(server, instanceID, backupID)
                #expect(record["status"] as? String == "failed")
                #expect(record["error_code"] as? String == "dcs.08.0001")
                let keys = Self.keys(server, instanceID, backupID)
                #expect(!(await server.parts.store.blobs.exists(key: keys.aof)))
                #expect(!(await server.parts.store.blobs.exists(key: keys.rdb)))
                #expect(try FileManager.default.contentsOfDirectory(atPath: server.dataDirectory + "/blobs/incoming").isEmpty, "no half-written file")
                await master.stop()
            }
        }
    }

    @Test("Deleting the instance removes an AOF backup's file and its RDB sidecar")
    func instanceDeletion() async throws {
        try await RedisServer.withServer(extraArguments: DCSBackupTests.redisArguments(diskless: "yes")) { redis in
            let writer = try await redis.connect()
            try await RedisDataset.populate(writer, scale: 5)
            await writer.close()
            try await TestServer.run { server in
                let instanceID = try await DCSBackupTests.adopt(server, redis)
                let backupID = try #require(
                    try await DCSBackupTests.requestBackup(server, instanceID, json: #"{"backup_format": "aof"}"#).json["backup_id"] as? String)
                #expect(try await server.parts.worker.runOnce()?.status == .succeeded)
                let keys = Self.keys(server, instanceID, backupID)
                let blobs = server.parts.store.blobs
                #expect(await blobs.exists(key: keys.aof))
                #expect(await blobs.exists(key: keys.rdb))
                #expect(try await server.signed(.delete, "/v2/\(server.projectID)/instances/\(instanceID)").status == .noContent)
                let removal = try #require(try await server.parts.worker.runOnce())
                #expect(removal.kind == "dcs.instance.delete" && removal.status == .succeeded)
                #expect(!(await blobs.exists(key: keys.aof)))
                #expect(!(await blobs.exists(key: keys.rdb)), "the sidecar goes too")
            }
        }
    }

    @Test("An AOF backup whose worker died between its two commits is failed on recovery and leaves no file")
    func crashRecoveryRemovesSidecar() async throws {
        try await RedisServer.withServer(extraArguments: DCSBackupTests.redisArguments(diskless: "yes")) { redis in
            try await TestServer.run { server in
                let instanceID = try await DCSBackupTests.adopt(server, redis)
                let backupID = try #require(
                    try await DCSBackupTests.requestBackup(server, instanceID, json: #"{"backup_format": "aof"}"#).json["backup_id"] as? String)
                // The sidecar was committed, the AOF not yet, when the process died: the record is backuping.
                let keys = Self.keys(server, instanceID, backupID)
                let blobs = server.parts.store.blobs
                let sidecar = try await blobs.makeWriter(key: keys.rdb)
                try await sidecar.write(contentsOf: Array("REDIS0011".utf8))
                _ = try await sidecar.commit()
                var record = try #require(try await server.parts.store.dcs.backup(projectID: server.projectID, instanceID: instanceID, id: backupID))
                record.status = .backuping
                try await server.parts.store.dcs.updateBackup(record)
                let now = Date()
                let job = try #require(
                    try await server.parts.store.jobs.claim(kinds: ["dcs.backup"], owner: "crashed", now: now, leaseUntil: now.addingTimeInterval(-1)))
                #expect(try await server.parts.worker.recoverExpiredJobs() == 1)
                #expect(try await server.parts.store.jobs.job(id: job.id)?.status == .failed)
                let failed = try await DCSBackupTests.record(server, instanceID, backupID)
                #expect(failed["status"] as? String == "failed")
                #expect(!(await blobs.exists(key: keys.rdb)), "no sidecar outlives a failed backup")
            }
        }
    }

    @Test("Retention expires an AOF backup: both files removed")
    func retention() async throws {
        try await RedisServer.withServer(extraArguments: DCSBackupTests.redisArguments(diskless: "yes")) { redis in
            let clock = DCSBackupSchedulerTests.ManualClock(DCSBackupSchedulerTests.at(day: 10, 12))
            try await TestServer.run(clock: { clock.now }) { server in
                let store = server.parts.store
                let instanceID = try await DCSBackupSchedulerTests.adopt(server, clock, redis)
                try await DCSBackupSchedulerTests.setPolicy(server, clock, instanceID)
                func seed(ageDays: Double) async throws -> DCSBackupRecord {
                    let created = clock.now.addingTimeInterval(-ageDays * 86400)
                    var record = DCSBackupRecord(
                        id: Identifiers.uuid(), projectID: server.projectID, instanceID: instanceID, name: "backup_" + WireTime.compact(created),
                        backupType: .auto, backupFormat: .aof, status: .succeed, progress: .complete, size: 0, remark: nil, errorCode: nil,
                        period: "02:00-03:00", isSupportRestore: true, createdAt: created, updatedAt: created, executionAt: created, blobKey: nil,
                        sha256: nil)
                    let keys = Self.keys(server, instanceID, record.id)
                    let rdb = try await store.blobs.makeWriter(key: keys.rdb)
                    try await rdb.write(contentsOf: Array("REDIS0011".utf8))
                    _ = try await rdb.commit()
                    let aof = try await store.blobs.makeWriter(key: keys.aof)
                    try await aof.write(contentsOf: Array("*1\r\n$4\r\nPING\r\n".utf8))
                    let blob = try await aof.commit()
                    record.blobKey = blob.key
                    record.size = blob.size
                    record.sha256 = blob.sha256
                    try await store.dcs.insertBackup(record)
                    return record
                }
                let old = try await seed(ageDays: 5)
                let newest = try await seed(ageDays: 4)
                #expect(try await server.parts.operations.dcsBackupScheduler.runOnce().expired == 1)
                while let job = try await server.parts.worker.runOnce() { #expect(job.status == .succeeded) }
                let gone = Self.keys(server, instanceID, old.id)
                #expect(!(await store.blobs.exists(key: gone.aof)))
                #expect(!(await store.blobs.exists(key: gone.rdb)), "the sidecar goes too")
                let kept = Self.keys(server, instanceID, newest.id)
                #expect(await store.blobs.exists(key: kept.aof))
                #expect(await store.blobs.exists(key: kept.rdb))
            }
        }
    }
}
