import CofferRedis
import CofferTestSupport
import Foundation
import Logging
import NIOCore
import Synchronization
import Testing

/// A measurement, not a timed test: prints the replication fast path against `redis-cli --pipe` of the same
/// keys as `RESTORE` commands (restore.md §12's dataset). Runs only with `COFFER_REPLICA_BENCH=1`.
@Suite("Replica loader measurement", .timeLimit(.minutes(10)))
struct ReplicaLoaderBenchmark {
    @Test(
        "600k small strings + 2k hashes × 50 fields: fast path vs RESTORE via redis-cli --pipe",
        .enabled(if: ProcessInfo.processInfo.environment["COFFER_REPLICA_BENCH"] == "1"))
    func measure() async throws {
        let directory = try TemporaryDirectory(prefix: "coffer-replica-bench")
        defer { directory.remove() }
        let restoreFile = directory.file("restore.resp")
        let (rdb, version, keys) = try await RedisServer.withServer(extraArguments: ["--enable-debug-command", "yes", "--repl-diskless-sync", "no"]) {
            source in
            let connection = try await source.connect(timeout: .seconds(60))
            try await connection.commandExpectingSuccess(["DEBUG", "POPULATE", "600000", "s", "10"], timeout: .seconds(60))
            let script = """
                for i=1,2000 do local a={} for f=1,50 do a[#a+1]='field'..f; a[#a+1]='value-'..i..'-'..f end redis.call('HSET','h:'..i,unpack(a)) end
                return 1
                """
            try await connection.commandExpectingSuccess(["EVAL", script, "0"], timeout: .seconds(60))
            // The RESTORE commands of every key, as redis-cli --pipe will send them.
            _ = FileManager.default.createFile(atPath: restoreFile.path, contents: nil)
            let handle = try FileHandle(forWritingTo: restoreFile)
            var cursor = "0"
            var keys = 0
            repeat {
                let reply = try await connection.commandExpectingSuccess(["SCAN", cursor, "COUNT", "2000"])
                guard let parts = reply.array, parts.count == 2, let next = parts[0].string, let batch = parts[1].array else { throw RedisError.connectionClosed }
                cursor = next
                let names = batch.compactMap(\.bytes)
                let dumps = try await connection.pipeline(names.map { ["DUMP", String(buffer: $0)] })
                var out = ByteBuffer()
                for (name, dump) in zip(names, dumps) {
                    guard let payload = dump.bytes else { continue }
                    RESPEncoder().encode([ByteBuffer(string: "RESTORE"), name, ByteBuffer(string: "0"), payload], into: &out)
                    keys += 1
                }
                try handle.write(contentsOf: Data(out.readableBytesView))
            } while cursor != "0"
            try handle.close()
            await connection.close()
            let collected = Mutex(ByteBuffer())
            let summary = try await source.connect().pullSnapshot(sink: { chunk in collected.withLock { _ = $0.writeImmutableBuffer(chunk) } })
            return (collected.withLock { $0 }, summary.rdbVersion, keys)
        }
        #expect(keys == 602_000)

        for round in 1...3 {
            let fast = try await RedisServer.withServer { target in
                let connection = try await target.connect()
                try await connection.commandExpectingSuccess(["SET", "old", "1"])
                let offset = Mutex(0)
                let chunks: @Sendable () async throws -> ByteBuffer? = {
                    offset.withLock { offset in
                        let count = min(256 * 1024, rdb.readableBytes - offset)
                        guard count > 0 else { return nil }
                        defer { offset += count }
                        return rdb.getSlice(at: rdb.readerIndex + offset, length: count)
                    }
                }
                let started = ContinuousClock.now
                let summary = try await ReplicaLoader(target: target.endpoint, logger: testLogger).load(
                    .init(length: Int64(rdb.readableBytes), rdbVersion: version, chunks: chunks))
                let elapsed = ContinuousClock.now - started
                #expect(summary.keys == keys)
                print("replica-bench fast path: transfer \(summary.transfer), REPLICAOF to NO ONE \(summary.duration)")
                await connection.close()
                // Where the time went, from the target's own log (millisecond timestamps).
                let log = (try? String(contentsOf: target.logPath, encoding: .utf8)) ?? ""
                for line in log.split(separator: "\n") where line.contains("REPLICA") || line.contains("Loading") || line.contains("Done loading") || line.contains("MASTER MODE") || line.contains("Connecting to MASTER") {
                    print("replica-bench target log: \(line)")
                }
                return elapsed
            }
            let pipe = try await RedisServer.withServer { target in
                let started = ContinuousClock.now
                let result = try ProcessRunner.run("sh", ["-c", "redis-cli -p \(target.port) --pipe < '\(restoreFile.path)'"])
                let elapsed = ContinuousClock.now - started
                #expect(result.status == 0, "\(result.output)")
                let connection = try await target.connect()
                let info = try await connection.info("keyspace")
                #expect(info.dbKeyCounts?[0]?.keys == keys)
                await connection.close()
                return elapsed
            }
            let ratio = Double(fast.components.seconds) + Double(fast.components.attoseconds) / 1e18
            let pipeSeconds = Double(pipe.components.seconds) + Double(pipe.components.attoseconds) / 1e18
            print(
                "replica-bench round \(round): \(keys) keys, RDB \(rdb.readableBytes) bytes: fast path \(fast), RESTORE --pipe \(pipe), ratio \(String(format: "%.2f", ratio / pipeSeconds))"
            )
        }
    }
}
