import Foundation
import Logging
import NIOCore
import Subprocess

#if canImport(System)
    import System
#else
    import SystemPackage
#endif

/// Dumps several MySQL/MariaDB servers at **one instant**: a transaction-consistent cut across all of them.
///
/// Protocol (reference `mysql-consistent-backup.md` §2.5):
/// 1. one coordinator connection per node, `lock_wait_timeout` bounded;
/// 2. `FLUSH TABLES WITH READ LOCK` on every node, in parallel: from the last grant on, no node commits;
/// 3. under the lock, each node's binlog position (`SHOW MASTER STATUS`, `@@gtid_binlog_pos`);
/// 4. one `mariadb-dump --single-transaction --master-data=2` per node, streamed through `zstd` into the
///    node's sink; each dump prints its snapshot's binlog coordinates right after its
///    `START TRANSACTION WITH CONSISTENT SNAPSHOT`, so seeing that line *proves* its snapshot exists (§2.4).
///    A node without binary logging is dumped as a temporary account created for this backup, and its
///    snapshot is proven by that account's read view in `SHOW ENGINE INNODB STATUS` (a dump that ends while
///    the lock is still held is proof too);
/// 5. once every dump has shown it, `UNLOCK TABLES` everywhere (writers stall only for this short window);
/// 6. when the dumps end: exit codes, the `-- Dump completed` footer, and each dump's coordinates equal to
///    the ones read under the lock (no commit slipped in between). Any failure fails the whole cut.
///
/// Every wait is bounded: the lock by `lock_wait_timeout` (the server default is a day), the snapshots by
/// `snapshotDeadline`. A failure or cancellation closes the coordinators (which releases the locks) and
/// kills the dump processes.
package struct ConsistentDumper: Sendable {
    package struct Configuration: Sendable {
        /// `SET SESSION lock_wait_timeout`, seconds: the longest a node's lock may wait for running writes.
        package var lockWaitTimeout: Int = 5
        /// How long the dumps may take to establish their snapshots while the locks are held.
        package var snapshotDeadline: Duration = .seconds(30)
        /// Connect and statement bound of the coordinator connections.
        package var connectTimeout: Duration = .seconds(5)
        /// `zstd` level; 3 is the measured sweet spot (reference §5).
        package var compressionLevel: Int = 3
        /// Dump tool; found in PATH (`mariadb-dump`, then `mysqldump`) when nil.
        package var dumpExecutable: String?
        /// Compressor; `zstd` in PATH when nil.
        package var zstdExecutable: String?

        package init() {}
    }

    /// Test hook: runs while every lock is held and every snapshot exists, just before the release.
    package typealias LockedHook = @Sendable () async throws -> Void

    package let configuration: Configuration
    private let logger: Logger

    package init(configuration: Configuration = .init(), logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Dumps every target at one consistent instant.
    /// - Parameter whileLocked: test hook, see `LockedHook`.
    /// - Returns: one outcome per target, in order.
    /// - Throws: `MySQLError` (`.unreachable`, `.authenticationFailed`, `.timedOut`, `.dumpFailed` …) naming the node.
    package func dump(_ targets: [DumpTarget], whileLocked: LockedHook? = nil) async throws -> [DumpOutcome] {
        let tools = try self.tools()
        let coordinators = try await self.connectAll(targets)
        defer { for connection in coordinators { connection.abort() } }
        // 1. How each node proves its dump's snapshot: the dump's own binlog coordinates when binary logging is
        //    on, else its read view in SHOW ENGINE INNODB STATUS, found through a temporary dump account (§2.4).
        var plans: [NodePlan] = []
        for (index, connection) in coordinators.enumerated() {
            plans.append(try await self.plan(targets[index], connection: connection))
        }
        let prepared = plans
        do {
            let outcomes = try await self.dumpLocked(targets, plans: prepared, coordinators: coordinators, tools: tools, whileLocked: whileLocked)
            await self.dropDumpUsers(prepared, coordinators: coordinators)
            return outcomes
        } catch {
            await self.dropDumpUsers(prepared, coordinators: coordinators)
            throw error
        }
    }

    /// How one node's snapshot is proven.
    struct NodePlan: Sendable {
        /// Binary logging on: the dump prints its coordinates, compared with the locked position.
        var binlog: Bool
        /// The account the dump runs as (a temporary one when binary logging is off).
        var dumpEndpoint: MySQLEndpoint
        /// The temporary account to drop afterwards.
        var temporaryUser: String?
    }

    private func plan(_ target: DumpTarget, connection: MySQLConnection) async throws -> NodePlan {
        do {
            let binlog = try await connection.query("SELECT @@log_bin AS b").value("b") == "1"
            if binlog { return NodePlan(binlog: true, dumpEndpoint: target.endpoint, temporaryUser: nil) }
            // A unique account makes the dump's connection identifiable without guessing.
            let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 16)
            let user = "coffer_dump_" + suffix
            let password = "Cd1-" + String(UInt64.random(in: 0...UInt64.max), radix: 36) + String(UInt64.random(in: 0...UInt64.max), radix: 36)
            try await connection.query("CREATE USER '\(user)'@'%' IDENTIFIED BY '\(password)'")
            try await connection.query("GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES ON *.* TO '\(user)'@'%'")
            var endpoint = target.endpoint
            endpoint.user = user
            endpoint.password = password
            return NodePlan(binlog: false, dumpEndpoint: endpoint, temporaryUser: user)
        } catch let error as MySQLError {
            if case .server(_, _, let message) = error {
                throw MySQLError.dumpFailed(
                    "data node \(target.name) (\(target.endpoint.address)) has binary logging off and Coffer cannot create a temporary dump account there: \(message)")
            }
            throw Self.naming(error, target)
        }
    }

    private func dropDumpUsers(_ plans: [NodePlan], coordinators: [MySQLConnection]) async {
        for (index, plan) in plans.enumerated() {
            guard let user = plan.temporaryUser else { continue }
            if (try? await coordinators[index].query("DROP USER IF EXISTS '\(user)'@'%'")) == nil {
                // The coordinator may be gone (a node failure); try once on a fresh connection.
                let endpoint = coordinators[index].endpoint
                _ = try? await MySQLConnection.withConnection(to: endpoint, timeout: self.configuration.connectTimeout, logger: self.logger) {
                    try await $0.query("DROP USER IF EXISTS '\(user)'@'%'")
                }
            }
        }
    }

    private func dumpLocked(
        _ targets: [DumpTarget], plans: [NodePlan], coordinators: [MySQLConnection], tools: Tools, whileLocked: LockedHook?
    ) async throws -> [DumpOutcome] {
        // 2. Lock every node (once, through its first target's coordinator), in parallel, each bounded by
        //    lock_wait_timeout.
        let leaders = Self.nodeLeaders(targets)
        let nodePositions = try await withThrowingTaskGroup(of: (Int, (String, UInt64, String)).self) { group in
            for (index, connection) in coordinators.enumerated() where leaders[index] == index {
                let target = targets[index]
                let plan = plans[index]
                group.addTask {
                    do {
                        try await connection.query("SET SESSION lock_wait_timeout = \(self.configuration.lockWaitTimeout)")
                        try await connection.query(
                            "FLUSH TABLES WITH READ LOCK", timeout: .seconds(self.configuration.lockWaitTimeout + 5))
                        guard plan.binlog else { return (index, ("", 0, "")) }
                        let status = try await connection.query("SHOW MASTER STATUS")
                        guard let file = status.value("File"), let position = status.value("Position").flatMap(UInt64.init) else {
                            throw MySQLError.dumpFailed("data node \(target.name): SHOW MASTER STATUS is empty although log_bin is on")
                        }
                        let gtid = (try? await connection.query("SELECT @@gtid_binlog_pos AS g").value("g")) ?? ""
                        return (index, (file, position, gtid))
                    } catch let error as MySQLError {
                        throw Self.naming(error, target)
                    }
                }
            }
            var positions = [(String, UInt64, String)](repeating: ("", 0, ""), count: targets.count)
            for try await (index, position) in group { positions[index] = position }
            return positions
        }
        let positions = leaders.map { nodePositions[$0] }
        let lockedAt = ContinuousClock.now
        // Every lock is held now and none is released before the snapshots exist: this instant is the cut.
        let cutAt = Date()
        self.logger.debug("Global read locks held on every node", metadata: ["ddm.nodes": "\(targets.count)"])

        // 4–6. Dumps in parallel; the release waits for every snapshot.
        let (events, continuation) = AsyncStream<SnapshotEvent>.makeStream()
        return try await withThrowingTaskGroup(of: (Int, DumpStats).self) { group in
            var watchers: [Task<Void, Never>] = []
            defer { for watcher in watchers { watcher.cancel() } }
            for (index, target) in targets.enumerated() {
                var dumpTarget = target
                dumpTarget.endpoint = plans[index].dumpEndpoint
                let binlog = plans[index].binlog
                group.addTask {
                    do {
                        let stats = try await self.pipeline(dumpTarget, binlog: binlog, tools: tools) { coordinates in
                            continuation.yield(.snapshot(index, .binlogCoordinates))
                        }
                        // A dump that started after the lock and ended before the release took its snapshot inside
                        // the window: proof enough when it was too quick to be seen.
                        continuation.yield(.snapshot(index, .finishedUnderLock))
                        return (index, stats)
                    } catch {
                        continuation.yield(.failed(index))
                        throw Self.naming(error, target)
                    }
                }
                if let user = plans[index].temporaryUser {
                    let coordinator = coordinators[index]
                    watchers.append(
                        Task {
                            if await Self.waitForReadView(of: user, on: coordinator) { continuation.yield(.snapshot(index, .readView)) }
                        })
                }
            }
            let proven = try await Self.withTimeout(self.configuration.snapshotDeadline) { () -> [Int: SnapshotProof]? in
                var seen: [Int: SnapshotProof] = [:]
                for await event in events {
                    switch event {
                    case .snapshot(let index, let proof): if seen[index] == nil { seen[index] = proof }
                    case .failed: return nil
                    }
                    if seen.count == targets.count { return seen }
                }
                return nil
            }
            let allSeen: Bool? = proven.map { $0 != nil }
            for watcher in watchers { watcher.cancel() }
            if allSeen == nil {
                throw MySQLError.dumpFailed(
                    "the dumps did not establish their snapshots within \(self.configuration.snapshotDeadline) while the nodes were locked")
            }
            if allSeen == true, let whileLocked { try await whileLocked() }
            // Release: errors here are harmless (closing the connection releases the lock as well).
            var nodeHeld: [Int: Duration] = [:]
            for (index, connection) in coordinators.enumerated() where leaders[index] == index {
                _ = try? await connection.query("UNLOCK TABLES")
                nodeHeld[index] = ContinuousClock.now - lockedAt
            }
            let held = leaders.map { nodeHeld[$0] ?? .zero }
            self.logger.debug("Global read locks released", metadata: ["ddm.lock_ms": "\((ContinuousClock.now - lockedAt).milliseconds)"])
            var outcomes = [DumpOutcome?](repeating: nil, count: targets.count)
            for try await (index, stats) in group {
                let (file, position, gtid) = positions[index]
                if plans[index].binlog {
                    guard let coordinates = stats.coordinates, coordinates.0 == file, coordinates.1 == position else {
                        throw MySQLError.dumpFailed(
                            "data node \(targets[index].name): the dump's snapshot is not at the locked position \(file):\(position); a commit slipped into the cut")
                    }
                }
                outcomes[index] = DumpOutcome(
                    name: targets[index].name, binlogFile: file, binlogPosition: position, gtidPosition: gtid, dumpBytes: stats.bytes,
                    lockHeld: held[index], proof: proven??[index] ?? .finishedUnderLock, cutAt: cutAt)
            }
            continuation.finish()
            return outcomes.map { $0! }
        }
    }

    /// Polls `SHOW ENGINE INNODB STATUS` (live, unlike the cached INNODB_TRX view) until a connection of `user`
    /// has a read view: its `START TRANSACTION WITH CONSISTENT SNAPSHOT` is done. False when cancelled.
    package static func waitForReadView(of user: String, on coordinator: MySQLConnection) async -> Bool {
        while !Task.isCancelled {
            // Each poll runs to its end even when the wait is cancelled: a statement cut off mid-answer would
            // close the coordinator connection, and with it the node's lock.
            let found = await Task {
                guard let ids = try? await coordinator.query("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = '\(user)'"),
                    !ids.rows.isEmpty,
                    let status = try? await coordinator.query("SHOW ENGINE INNODB STATUS").value("Status")
                else { return false }
                return Self.hasReadView(status: status, threads: Set(ids.rows.compactMap { $0.first ?? nil }))
            }.value
            if found { return true }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return false
    }

    /// Whether a transaction of one of `threads` in the TRANSACTIONS section has a read view.
    static func hasReadView(status: String, threads: Set<String>) -> Bool {
        guard let section = status.range(of: "LIST OF TRANSACTIONS FOR EACH SESSION:") else { return false }
        var owner: String?
        for line in status[section.upperBound...].split(separator: "\n") {
            if line.hasPrefix("---TRANSACTION") {
                owner = nil
            } else if let range = line.range(of: "thread id ") {
                owner = String(line[range.upperBound...].prefix { $0.isNumber })
            } else if line.contains("Trx read view will not see"), let owner, threads.contains(owner) {
                return true
            } else if line == "--------" || line.hasPrefix("FILE I/O") {
                break
            }
        }
        return false
    }

    // MARK: - One node's pipeline

    private enum SnapshotEvent: Sendable {
        case snapshot(Int, SnapshotProof)
        case failed(Int)
    }

    private struct DumpStats: Sendable {
        var bytes: Int64
        /// The snapshot's binlog coordinates the dump printed (binary logging on only).
        var coordinates: (String, UInt64)?
    }

    private struct Tools: Sendable {
        var dump: String
        var zstd: String
    }

    private func tools() throws -> Tools {
        guard let dump = self.configuration.dumpExecutable ?? Self.locate("mariadb-dump") ?? Self.locate("mysqldump") else {
            throw MySQLError.dumpFailed("neither mariadb-dump nor mysqldump is installed")
        }
        guard let zstd = self.configuration.zstdExecutable ?? Self.locate("zstd") else {
            throw MySQLError.dumpFailed("zstd is not installed")
        }
        return Tools(dump: dump, zstd: zstd)
    }

    /// The arguments of `mariadb-dump` (reference §1.3); the password goes in `MYSQL_PWD`, never in argv.
    static func dumpArguments(_ target: DumpTarget, binlog: Bool) -> [String] {
        [
            "--host=\(target.endpoint.host)", "--port=\(target.endpoint.port)", "--protocol=TCP", "--user=\(target.endpoint.user)",
            "--single-transaction", binlog ? "--master-data=2" : "--skip-lock-tables", "--quick", "--routines", "--events", "--triggers", "--hex-blob",
            "--default-character-set=utf8mb4", "--skip-dump-date", "--no-tablespaces", "--max-allowed-packet=1G",
            "--databases",
        ] + target.databases
    }

    /// `mariadb-dump … | zstd -N` into the sink; reports the snapshot's coordinates as soon as they are printed.
    private func pipeline(
        _ target: DumpTarget, binlog: Bool, tools: Tools, onSnapshot: @escaping @Sendable ((String, UInt64)) -> Void
    ) async throws -> DumpStats {
        let sink = target.sink
        let result = try await Subprocess.run(
            .path(FilePath(tools.zstd)), arguments: Arguments(["-\(self.configuration.compressionLevel)", "-q", "-c"]),
            input: .inputWriter, output: .sequence, error: .string(limit: 16 * 1024)
        ) { compressor in
            try await withThrowingTaskGroup(of: DumpStats?.self) { group in
                group.addTask {
                    for try await chunk in compressor.standardOutput {
                        try await sink.write(chunk.withUnsafeBytes { ByteBuffer(bytes: $0) })
                    }
                    return nil
                }
                group.addTask {
                    let stats = try await self.runDump(
                        target, binlog: binlog, tools: tools, into: compressor.standardInputWriter, onSnapshot: onSnapshot)
                    try await compressor.standardInputWriter.finish()
                    return stats
                }
                var stats: DumpStats?
                for try await value in group where value != nil { stats = value }
                return stats!
            }
        }
        guard result.terminationStatus.isSuccess else {
            throw MySQLError.dumpFailed("zstd \(result.terminationStatus): \(result.standardError)")
        }
        return result.closureResult
    }

    private func runDump(
        _ target: DumpTarget, binlog: Bool, tools: Tools, into compressor: StandardInputWriter,
        onSnapshot: @escaping @Sendable ((String, UInt64)) -> Void
    ) async throws -> DumpStats {
        let result = try await Subprocess.run(
            .path(FilePath(tools.dump)), arguments: Arguments(Self.dumpArguments(target, binlog: binlog)),
            environment: .inherit.updating(["MYSQL_PWD": target.endpoint.password]),
            input: .none, output: .sequence, error: .string(limit: 64 * 1024)
        ) { execution in
            var head: [UInt8] = []
            var tail: [UInt8] = []
            var coordinates: (String, UInt64)?
            var bytes: Int64 = 0
            for try await chunk in execution.standardOutput {
                bytes += Int64(chunk.count)
                if binlog && coordinates == nil && head.count < 256 * 1024 {
                    chunk.withUnsafeBytes { head.append(contentsOf: $0) }
                    if let found = Self.snapshotCoordinates(in: head) {
                        coordinates = found
                        onSnapshot(found)
                    }
                }
                chunk.withUnsafeBytes { raw in
                    // Keep the last 256 bytes seen, for the footer check.
                    if raw.count >= 256 {
                        tail = Array(raw[(raw.count - 256)...])
                    } else {
                        tail = Array((tail + raw).suffix(256))
                    }
                }
                // Straight from the read buffer to the compressor's pipe: no copy in between.
                _ = try await compressor.write(chunk.bytes)
            }
            return (coordinates, tail, bytes)
        }
        let (coordinates, tail, bytes) = result.closureResult
        guard result.terminationStatus.isSuccess else {
            let message = result.standardError.trimmingCharacters(in: .whitespacesAndNewlines)
            if message.contains("Access denied") { throw MySQLError.authenticationFailed(message) }
            throw MySQLError.dumpFailed("mariadb-dump \(result.terminationStatus): \(message)")
        }
        guard String(decoding: tail, as: UTF8.self).contains("-- Dump completed") else {
            throw MySQLError.dumpFailed("the dump ended without its `-- Dump completed` footer (truncated)")
        }
        if binlog && coordinates == nil { throw MySQLError.dumpFailed("the dump printed no binlog coordinates") }
        return DumpStats(bytes: bytes, coordinates: coordinates)
    }

    /// Parses `-- CHANGE MASTER TO MASTER_LOG_FILE='binlog.000001', MASTER_LOG_POS=66270305;`, which mariadb-dump
    /// prints right after starting its consistent snapshot.
    static func snapshotCoordinates(in head: [UInt8]) -> (String, UInt64)? {
        let text = String(decoding: head, as: UTF8.self)
        guard let start = text.range(of: "CHANGE MASTER TO MASTER_LOG_FILE='") else { return nil }
        let rest = text[start.upperBound...]
        guard let quote = rest.firstIndex(of: "'"), let positionStart = rest.range(of: "MASTER_LOG_POS=") else { return nil }
        let digits = rest[positionStart.upperBound...].prefix { $0.isNumber }
        guard let end = rest[positionStart.upperBound...].dropFirst(digits.count).first, end == ";" || end == ",",
            let position = UInt64(digits)
        else { return nil }
        return (String(rest[..<quote]), position)
    }

    // MARK: - Helpers

    /// One coordinator per node (host and port), logged in with the node's first target's account; the
    /// result has one entry per target, targets of one node sharing their node's connection.
    private func connectAll(_ targets: [DumpTarget]) async throws -> [MySQLConnection] {
        let leaders = Self.nodeLeaders(targets)
        let unique = Array(Set(leaders)).sorted()
        let connections = try await withThrowingTaskGroup(of: (Int, MySQLConnection).self) { group in
            for index in unique {
                let target = targets[index]
                group.addTask {
                    do {
                        return (index, try await MySQLConnection.connect(
                            to: target.endpoint, timeout: self.configuration.connectTimeout, logger: self.logger))
                    } catch let error as MySQLError {
                        throw Self.naming(error, target)
                    }
                }
            }
            var connections: [Int: MySQLConnection] = [:]
            do {
                for try await (index, connection) in group { connections[index] = connection }
            } catch {
                for connection in connections.values { connection.abort() }
                throw error
            }
            return connections
        }
        return leaders.map { connections[$0]! }
    }

    /// For each target, the index of the first target on the same node (host and port).
    static func nodeLeaders(_ targets: [DumpTarget]) -> [Int] {
        var first: [String: Int] = [:]
        return targets.enumerated().map { index, target in
            let key = "\(target.endpoint.host):\(target.endpoint.port)"
            if let leader = first[key] { return leader }
            first[key] = index
            return index
        }
    }

    /// Prefixes the node's name to an error, so the user knows which data node failed.
    static func naming(_ error: any Error, _ target: DumpTarget) -> any Error {
        guard let error = error as? MySQLError else { return error }
        let prefix = "data node \(target.name) (\(target.endpoint.address)): "
        switch error {
        case .unreachable(let detail): return MySQLError.unreachable(detail.hasPrefix("data node") ? detail : prefix + detail)
        case .timedOut(let detail): return MySQLError.timedOut(detail.hasPrefix("data node") ? detail : prefix + detail)
        case .authenticationFailed(let detail): return MySQLError.authenticationFailed(detail.hasPrefix("data node") ? detail : prefix + detail)
        case .dumpFailed(let detail): return MySQLError.dumpFailed(detail.hasPrefix("data node") ? detail : prefix + detail)
        case .server(let code, let state, let message): return MySQLError.dumpFailed(prefix + "server error \(code) (\(state)): \(message)")
        case .connectionClosed: return MySQLError.dumpFailed(prefix + "the connection closed")
        case .protocolViolation(let detail): return MySQLError.dumpFailed(prefix + detail)
        }
    }

    /// The result of `body`, or nil when `timeout` passes first (the body is then cancelled).
    package static func withTimeout<R: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> R) async throws -> R? {
        try await withThrowingTaskGroup(of: R?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            let first = try await group.next()!
            group.cancelAll()
            return first
        }
    }

    static func locate(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for directory in path.split(separator: ":").map(String.init) + ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"] {
            let candidate = directory + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

extension Duration {
    /// Whole milliseconds.
    package var milliseconds: Int64 {
        let (seconds, attoseconds) = self.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
