import CofferRedis
import CofferTestSupport
import Foundation
import NIOCore
import Testing

/// Every record a real `redis-server` writes, pulled through the replication engine in both framings:
/// the scan must reach the end, count the keys the server holds, verify the CRC, and store bytes that
/// `redis-check-rdb` accepts.
@Suite("RDB records written by redis-server", .timeLimit(.minutes(1)))
struct RDBEncodingTests {
    @Test("Pulled, scanned and accepted by redis-check-rdb", arguments: RDBScenario.all, ["yes", "no"])
    func pull(scenario: RDBScenario, diskless: String) async throws {
        let arguments = ["--repl-diskless-sync", diskless, "--repl-diskless-sync-delay", "0"] + scenario.arguments
        try await RedisServer.withServer(extraArguments: arguments) { server in
            let writer = try await server.connect(timeout: .seconds(5), logger: testLogger)
            for reply in try await writer.pipeline(scenario.commands) {
                #expect(reply.errorMessage == nil, "\(reply)")
            }
            for (key, expected) in scenario.encodings {
                let encoding = try await writer.commandExpectingSuccess(["OBJECT", "ENCODING", key]).string ?? ""
                #expect(expected.contains(encoding), "\(key) is \(encoding), not \(expected.sorted())")
            }
            var expectedKeys: [Int: Int] = [:]
            for database in 0..<16 {
                _ = try await writer.commandExpectingSuccess(["SELECT", "\(database)"])
                let size = try await writer.commandExpectingSuccess(["DBSIZE"]).integer ?? 0
                if size > 0 { expectedKeys[database] = Int(size) }
            }
            await writer.close()

            let directory = try TemporaryDirectory(prefix: "coffer-rdb-records")
            defer { directory.remove() }
            let file = directory.file("dump.rdb")
            _ = FileManager.default.createFile(atPath: file.path, contents: nil)
            let handle = try FileHandle(forWritingTo: file)
            let connection = try await server.connect(timeout: .seconds(5), logger: testLogger)
            let summary = try await connection.pullSnapshot(sink: { bytes in try handle.write(contentsOf: Data(bytes.readableBytesView)) })
            try handle.close()

            #expect(summary.diskless == (diskless == "yes"))
            #expect(summary.keysPerDatabase == expectedKeys)
            #expect(summary.checksumVerified == scenario.checksummed)
            let check = try ProcessRunner.run("redis-check-rdb", [file.path])
            #expect(check.status == 0, "\(check.output)")
            #expect(check.output.contains("RDB looks OK"), "\(check.output)")

            // The stored file scans alone too, with records straddling odd chunk boundaries.
            let stored = try await RDBScanner.scan(Array(try Data(contentsOf: file)), chunkSize: 509)
            #expect(stored == RDBScanResult(version: summary.rdbVersion, keysPerDatabase: expectedKeys, checksumVerified: scenario.checksummed))
        }
    }
}
