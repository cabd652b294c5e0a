import Foundation
import Logging
import NIOCore
import NIOPosix
import Subprocess

#if canImport(System)
    import System
#else
    import SystemPackage
#endif

/// Puts data back into a MySQL/MariaDB server with the server's own clients: a compressed dump streamed through
/// `zstd -d` into `mariadb`, and archived binary log files replayed with `mariadb-binlog | mariadb` (reference
/// restore.md §7, §11). Passwords go in `MYSQL_PWD`, never in argv.
///
/// Streams only: a dump passes through a pipe chunk by chunk, never whole in memory.
package struct RestoreLoader: Sendable {
    package struct Configuration: Sendable {
        package var clientExecutable: String?
        package var binlogExecutable: String?
        package var zstdExecutable: String?
        package init() {}
    }

    /// What a replay reached.
    package struct ReplayOutcome: Sendable, Equatable {
        /// The last GTID replayed per replication domain (`domain-server-sequence`), by domain.
        package var lastGTIDs: [UInt32: String] = [:]
        /// The header time (UTC, whole seconds) of the last transaction replayed.
        package var lastEventAt: Date?
        /// Transactions (GTID events) replayed.
        package var transactions: Int = 0

        package init() {}
    }

    let configuration: Configuration
    let logger: Logger

    package init(configuration: Configuration = .init(), logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Arguments of the `mariadb` client for `endpoint` (no password: `MYSQL_PWD`).
    static func clientArguments(_ endpoint: MySQLEndpoint) -> [String] {
        [
            "--host=\(endpoint.host)", "--port=\(endpoint.port)", "--protocol=TCP", "--user=\(endpoint.user)", "--batch",
            "--default-character-set=utf8mb4", "--max-allowed-packet=1G",
        ]
    }

    /// Loads a zstd-compressed SQL dump into the server: `source` hands the compressed chunks over in order, they go
    /// to `zstd -d`, whose output streams into `mariadb`.
    /// - Throws: `MySQLError.dumpFailed` naming the client's complaint when the load fails.
    package func loadCompressedDump(
        into endpoint: MySQLEndpoint, source: @escaping @Sendable (_ write: @Sendable (ByteBuffer) async throws -> Void) async throws -> Void
    ) async throws {
        let client = try self.tool(self.configuration.clientExecutable, "mariadb", "mysql")
        let zstd = try self.tool(self.configuration.zstdExecutable, "zstd")
        let result = try await Subprocess.run(
            .path(FilePath(client)), arguments: Arguments(Self.clientArguments(endpoint)),
            environment: .inherit.updating(["MYSQL_PWD": endpoint.password]), input: .inputWriter, output: .discarded,
            error: .string(limit: 16 * 1024)
        ) { clientExecution in
            let decompressed = try await Subprocess.run(
                .path(FilePath(zstd)), arguments: Arguments(["-d", "-q", "-c"]), input: .inputWriter, output: .sequence,
                error: .string(limit: 16 * 1024)
            ) { decompressor in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await chunk in decompressor.standardOutput {
                            _ = try await clientExecution.standardInputWriter.write(chunk.bytes)
                        }
                        try await clientExecution.standardInputWriter.finish()
                    }
                    group.addTask {
                        let writer = decompressor.standardInputWriter
                        try await source { buffer in _ = try await writer.write(Array(buffer.readableBytesView)) }
                        try await writer.finish()
                    }
                    try await group.waitForAll()
                }
            }
            guard decompressed.terminationStatus.isSuccess else {
                throw MySQLError.dumpFailed("zstd -d \(decompressed.terminationStatus): \(Self.trimmed(decompressed.standardError))")
            }
        }
        guard result.terminationStatus.isSuccess else {
            throw MySQLError.dumpFailed("loading the dump into \(endpoint.address) failed: \(Self.trimmed(result.standardError))")
        }
    }

    /// Replays binary log `files` (complete or prefix copies of the server's files, in order) into the server in one
    /// client session: from `startPosition` of the first file (the backup's exact coordinates, so nothing in the
    /// dump is applied twice) up to, not including, the first event stamped at or after `stopBefore` (UTC, whole
    /// seconds: `TZ=UTC` is set for `mariadb-binlog`, which reads the time in its own zone). Nil `stopBefore`
    /// replays everything. `--disable-log-bin` keeps the source's GTIDs out of the target's own binary log.
    package func replay(
        files: [String], startPosition: UInt64, stopBefore: Date?, into endpoint: MySQLEndpoint
    ) async throws -> ReplayOutcome {
        let client = try self.tool(self.configuration.clientExecutable, "mariadb", "mysql")
        let binlog = try self.tool(self.configuration.binlogExecutable, "mariadb-binlog", "mysqlbinlog")
        var arguments = ["--disable-log-bin", "--start-position=\(startPosition)"]
        if let stopBefore { arguments.append("--stop-datetime=\(Self.utcDateTime(stopBefore))") }
        arguments += files
        let binlogArguments = arguments
        let result = try await Subprocess.run(
            .path(FilePath(client)), arguments: Arguments(Self.clientArguments(endpoint)),
            environment: .inherit.updating(["MYSQL_PWD": endpoint.password]), input: .inputWriter, output: .discarded,
            error: .string(limit: 16 * 1024)
        ) { clientExecution in
            let decoded = try await Subprocess.run(
                .path(FilePath(binlog)), arguments: Arguments(binlogArguments), environment: .inherit.updating(["TZ": "UTC"]),
                input: .none, output: .sequence, error: .string(limit: 16 * 1024)
            ) { execution in
                var scanner = ReplayScanner()
                for try await chunk in execution.standardOutput {
                    chunk.withUnsafeBytes { scanner.consume($0) }
                    _ = try await clientExecution.standardInputWriter.write(chunk.bytes)
                }
                try await clientExecution.standardInputWriter.finish()
                return scanner.outcome
            }
            guard decoded.terminationStatus.isSuccess else {
                throw MySQLError.dumpFailed("mariadb-binlog \(decoded.terminationStatus): \(Self.trimmed(decoded.standardError))")
            }
            return decoded.closureResult
        }
        guard result.terminationStatus.isSuccess else {
            throw MySQLError.dumpFailed("replaying the binary log into \(endpoint.address) failed: \(Self.trimmed(result.standardError))")
        }
        return result.closureResult
    }

    /// Creates a private scratch directory for rebuilt binlog files (on the blocking-I/O pool, never the cooperative one).
    package static func makeScratchDirectory() async throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-replay-\(UUID().uuidString)").path
        try await NIOThreadPool.singleton.runIfActive {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        return directory
    }

    /// Removes a scratch directory and everything in it.
    package static func removeScratchDirectory(_ directory: String) async {
        _ = try? await NIOThreadPool.singleton.runIfActive { try FileManager.default.removeItem(atPath: directory) }
    }

    /// Appends `bytes` to the file at `path`, creating it first when `create`.
    package static func append(_ bytes: ByteBuffer, to path: String, create: Bool) async throws {
        let data = Data(bytes.readableBytesView)
        try await NIOThreadPool.singleton.runIfActive {
            if create { _ = FileManager.default.createFile(atPath: path, contents: nil) }
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: data)
        }
    }

    /// `YYYY-MM-DD HH:MM:SS` of the whole UTC second at or before `date`.
    static func utcDateTime(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down)))
        func two(_ value: Int?) -> String { String(format: "%02d", value ?? 0) }
        return "\(String(format: "%04d", c.year ?? 1970))-\(two(c.month))-\(two(c.day)) \(two(c.hour)):\(two(c.minute)):\(two(c.second))"
    }

    private static func trimmed(_ text: String?) -> String {
        String((text ?? "").trimmingCharacters(in: .whitespacesAndNewlines).prefix(2000))
    }

    private func tool(_ configured: String?, _ names: String...) throws -> String {
        if let configured { return configured }
        for name in names { if let path = ConsistentDumper.locate(name) { return path } }
        throw MySQLError.dumpFailed("\(names.joined(separator: " or ")) is not installed")
    }
}

/// Reads `mariadb-binlog`'s text output as it streams by and notes each transaction's GTID and time from the
/// event header comments (`#261130  0:00:05 server id 1  end_log_pos 520 CRC32 0x…  GTID 0-1-3 trans`).
struct ReplayScanner {
    private(set) var outcome = RestoreLoader.ReplayOutcome()
    /// The unfinished line at the end of the last chunk (header lines only; others are skipped as they pass).
    private var partial: [UInt8] = []
    private var skippingLine = false

    mutating func consume(_ bytes: UnsafeRawBufferPointer) {
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                if !self.skippingLine { self.line(self.partial) }
                self.partial.removeAll(keepingCapacity: true)
                self.skippingLine = false
            } else if !self.skippingLine {
                // Only `#` header lines matter; base64 `BINLOG` bodies and statements are passed over.
                if self.partial.isEmpty && byte != UInt8(ascii: "#") {
                    self.skippingLine = true
                } else if self.partial.count < 4096 {
                    self.partial.append(byte)
                }
            }
        }
    }

    mutating func line(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        // An event header starts `#yymmdd hh:mm:ss server id …`; `#Q>` annotate lines quote user statements.
        guard let at = Self.headerTime(text), let server = text.range(of: " server id "),
            let range = text.range(of: "\tGTID ", range: server.upperBound..<text.endIndex) ?? text.range(of: " GTID ", range: server.upperBound..<text.endIndex)
        else { return }
        let token = text[range.upperBound...].prefix { $0.isNumber || $0 == "-" }
        let parts = token.split(separator: "-")
        guard parts.count == 3, let domain = UInt32(parts[0]), UInt64(parts[2]) != nil else { return }
        self.outcome.lastGTIDs[domain] = String(token)
        self.outcome.transactions += 1
        self.outcome.lastEventAt = at
    }

    /// `#yymmdd hh:mm:ss` (hour padded with a space) → UTC date.
    static func headerTime(_ line: String) -> Date? {
        let fields = line.dropFirst().split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 2, fields[0].count == 6, let ymd = Int(fields[0]) else { return nil }
        let hms = fields[1].split(separator: ":").compactMap { Int($0) }
        guard hms.count == 3 else { return nil }
        var components = DateComponents()
        components.year = 2000 + ymd / 10000
        components.month = (ymd / 100) % 100
        components.day = ymd % 100
        components.hour = hms[0]
        components.minute = hms[1]
        components.second = hms[2]
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar.date(from: components)
    }
}
