import CofferMySQL
import CofferTestSupport
import Foundation
import Logging
import NIOCore
import Synchronization

let quietLogger: Logger = {
    var logger = Logger(label: "coffer.test.mysql")
    logger.logLevel = .critical
    return logger
}()

/// Collects a dump in memory (tests only: dumps here are small); can run an action on the first chunk.
final class MemorySink: DumpSink, Sendable {
    private let state = Mutex<(Data, Bool)>((Data(), false))
    private let onFirstWrite: (@Sendable () -> Void)?

    init(onFirstWrite: (@Sendable () -> Void)? = nil) {
        self.onFirstWrite = onFirstWrite
    }

    func write(_ bytes: ByteBuffer) async throws {
        let first = self.state.withLock { state in
            state.0.append(contentsOf: bytes.readableBytesView)
            defer { state.1 = true }
            return !state.1
        }
        if first { self.onFirstWrite?() }
    }

    var data: Data { self.state.withLock { $0.0 } }
}

/// Loads a compressed dump into a server with the `mariadb` client (`zstd -dc file | mariadb …`).
func restore(_ dump: Data, into server: MariaDBServer) async throws {
    let directory = try TemporaryDirectory(prefix: "coffer-restore")
    defer { directory.remove() }
    let file = directory.file("dump.sql.zst")
    try dump.write(to: file)
    let script = "zstd -dc '\(file.path)' | mariadb --protocol=TCP -h127.0.0.1 -P\(server.port) -u\(MariaDBServer.adminUser) -p'\(MariaDBServer.adminPassword)'"
    let process = try ProcessRunner(
        executable: URL(fileURLWithPath: "/bin/sh"), arguments: ["-c", script], standardError: directory.file("stderr"))
    guard await process.waitForExit(timeout: .seconds(120)), process.terminationStatus == 0 else {
        let stderr = (try? String(contentsOf: directory.file("stderr"), encoding: .utf8)) ?? ""
        throw MySQLError.dumpFailed("restore failed: \(stderr)")
    }
}
