import CofferRedis
import CofferTestSupport
import Foundation
import Logging
import NIOCore
import Synchronization
import Testing

@Suite("Snapshot over the replication protocol", .timeLimit(.minutes(2)))
struct SnapshotTests {
    @Test("CRC-64 check value and split updates")
    func crc64() {
        var crc = CRC64()
        crc.update(Array("123456789".utf8))
        #expect(crc.value == 0xe9c6_d914_c4b8_d9ca)
        var split = CRC64()
        let bytes = Array((0..<1000).map { UInt8($0 % 251) })
        var whole = CRC64()
        whole.update(bytes)
        split.update(Array(bytes[0..<3]))
        split.update(Array(bytes[3..<517]))
        split.update(Array(bytes[517...]))
        #expect(split.value == whole.value)
    }

    @Test("Both framings: every type, two databases; key counts, CRC and redis-check-rdb agree", arguments: ["yes", "no"])
    func pull(diskless: String) async throws {
        try await RedisServer.withServer(
            password: "pw", extraArguments: ["--repl-diskless-sync", diskless, "--repl-diskless-sync-delay", "0"]
        ) { server in
            let writer = try await server.connect(timeout: .seconds(5), logger: testLogger)
            let written = try await RedisDataset.populate(writer, scale: 300)
            await writer.close()

            let directory = try TemporaryDirectory(prefix: "coffer-snapshot")
            defer { directory.remove() }
            let file = directory.file("dump.rdb")
            _ = FileManager.default.createFile(atPath: file.path, contents: nil)
            let handle = try FileHandle(forWritingTo: file)
            let reports = Mutex<[SnapshotProgress]>([])
            let connection = try await server.connect(timeout: .seconds(5), logger: testLogger)
            let summary = try await connection.pullSnapshot(
                sink: { bytes in try handle.write(contentsOf: Data(bytes.readableBytesView)) },
                progress: { report in reports.withLock { $0.append(report) } })
            try handle.close()

            #expect(summary.diskless == (diskless == "yes"))
            #expect(summary.keys == written)
            #expect(summary.keysPerDatabase[0] == written / 2)
            #expect(summary.keysPerDatabase[3] == written / 2)
            #expect(summary.checksumVerified)
            #expect(summary.rdbVersion >= 9)
            let size = try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? NSNumber
            #expect(size?.int64Value == summary.bytes)
            #expect(reports.withLock { $0.last?.fraction } == 1)
            if diskless == "no" { #expect(reports.withLock { $0.last?.totalBytes } == summary.bytes) }

            let check = try ProcessRunner.run("redis-check-rdb", [file.path])
            #expect(check.status == 0, "\(check.output)")
            #expect(check.output.contains("RDB looks OK"))
        }
    }

    @Test("A server killed mid-transfer fails the pull")
    func killedMidTransfer() async throws {
        // rdb-key-save-delay slows the fork child (microseconds per key) so the kill lands mid-stream.
        let server = try await RedisServer.start(extraArguments: ["--repl-diskless-sync-delay", "0", "--rdb-key-save-delay", "2000"])
        let writer = try await server.connect(timeout: .seconds(5), logger: testLogger)
        try await RedisDataset.populate(writer, scale: 200)
        await writer.close()
        let connection = try await server.connect(timeout: .seconds(5), logger: testLogger)
        let received = Atomic<Int>(0)
        async let outcome: Result<SnapshotSummary, any Error> = {
            do {
                return .success(try await connection.pullSnapshot(sink: { received.add($0.readableBytes, ordering: .relaxed) }))
            } catch {
                return .failure(error)
            }
        }()
        // Bounded: a pull that fails before its first byte would otherwise keep this loop waiting for ever.
        let deadline = ContinuousClock.now.advanced(by: .seconds(20))
        while received.load(ordering: .relaxed) == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(received.load(ordering: .relaxed) > 0, "no snapshot byte arrived within 20 s")
        server.kill()
        let result = await outcome
        guard case .failure(let error) = result else {
            Issue.record("the pull succeeded although the server was killed")
            await server.stop()
            return
        }
        #expect(error is RedisError)
        await server.stop()
    }

    @Test("A master silent for longer than the idle timeout fails the pull")
    func idleTimeout() async throws {
        // While the diskless delay runs the master only sends a newline a second: longer than 300 ms.
        try await RedisServer.withServer(extraArguments: ["--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "20"]) { server in
            let connection = try await server.connect(timeout: .seconds(5), logger: testLogger)
            let started = ContinuousClock.now
            do {
                _ = try await connection.pullSnapshot(idleTimeout: .milliseconds(300), sink: { _ in })
                Issue.record("the pull did not time out")
            } catch let error as RedisError {
                #expect(error.kind == "timedOut")
            }
            // Well before the 20 s delay ends (the transfer would start then), with room for a loaded machine
            // (7 s has been seen at a load average of 4 on two cores).
            #expect(ContinuousClock.now - started < .seconds(15))
        }
    }

    /// The pull reads in large chunks (`SO_RCVLOWAT`) and counts on the master closing after the RDB for the last
    /// bytes below the mark. A master that pauses mid-payload, then keeps the connection open after it, must still
    /// end the pull at once: the mark drops after 100 ms of silence.
    @Test("A master that pauses mid-payload and stays open after the RDB: the pull still ends at once")
    func masterStaysOpen() async throws {
        let directory = try TemporaryDirectory(prefix: "coffer-snapshot-open")
        defer { directory.remove() }
        let dump = directory.file("dump.rdb")
        let written = try await RedisServer.withServer { server in
            let writer = try await server.connect(timeout: .seconds(5), logger: testLogger)
            let written = try await RedisDataset.populate(writer, scale: 30)
            await writer.close()
            let pulled = try ProcessRunner.run("redis-cli", ["-h", "127.0.0.1", "-p", "\(server.port)", "--rdb", dump.path])
            #expect(pulled.status == 0, "\(pulled.output)")
            return written
        }
        let size = try #require(try FileManager.default.attributesOfItem(atPath: dump.path)[.size] as? NSNumber).intValue
        #expect(size < 256 * 1024, "smaller than the read mark: only the drop (or a close) delivers its end")
        let master = try await StandInMaster(serving: dump, form: .pausing, directory: directory)
        defer { Task { await master.stop() } }
        let connection = try await RedisConnection.connect(
            to: RedisEndpoint(host: "127.0.0.1", port: master.port), timeout: .seconds(5), logger: testLogger)
        let started = ContinuousClock.now
        let summary = try await connection.pullSnapshot(idleTimeout: .seconds(30), sink: { _ in })
        let took = ContinuousClock.now - started
        #expect(summary.keys == written)
        #expect(summary.bytes == Int64(size))
        #expect(summary.checksumVerified)
        #expect(took < .seconds(10), "ended by the dropped mark, not by the idle timeout (30 s): \(took)")
        await master.stop()
    }
}
