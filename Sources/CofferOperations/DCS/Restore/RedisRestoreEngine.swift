import CofferCore
import CofferRedis
import Foundation
import Logging
import NIOCore

/// Puts a DCS backup (an RDB in the blob store) back into a running Redis: probe the target, plan, execute.
/// The replication fast path (method D, `RedisRestoreEngine+Replication.swift`) is tried first where it
/// applies; otherwise, or when it finds it cannot apply before touching the target, the `RESTORE` path
/// (`restore.md` §1 method A) runs.
///
/// The `RESTORE` path, in order (each change is named in a checkpoint before it is made):
/// 1. fence the application out (``RestoreFence``: ACL users off, their connections killed);
/// 2. take a safety snapshot of the target over the replication protocol into the blob store
///    (`dcs-restore/<project>/<restore>/safety.rdb`), with `repl-diskless-sync-delay` lowered to 0 meanwhile
///    so Redis 7 does not wait 5 s before serving it (put back right after);
/// 3. `FLUSHALL` (`ASYNC` where memory allows), `FUNCTION FLUSH`, then every record as `RESTORE … ABSTTL` without
///    `REPLACE` (strings as `MSETNX` or `SET … NX`) and every function with `FUNCTION LOAD` (``RestoreWriter``),
///    version fields rewritten per the downgrade rule;
/// 4. unfence, delete the temporary user and the safety snapshot.
/// Any failure after the flush flushes again and restores the safety snapshot with the same writer, then
/// unfences: the target ends as it was. A cancelled restore (the process going away) leaves that to
/// ``recover(_:from:)`` with the last checkpoint.
///
/// Rights the Redis user Coffer connects as needs on the target: in effect `+@all ~* &*` — `ACL` (LIST,
/// GETUSER, SETUSER, DELUSER), `CLIENT KILL`, `INFO`, `CONFIG GET/SET` (optional: without it the safety
/// snapshot waits the diskless delay), `SYNC`/`REPLCONF` (safety snapshot), `FLUSHALL`, `FUNCTION`
/// (FLUSH, LOAD), `SELECT`, `RESTORE` on every key (`~*`). It should be a user of its own: when it is
/// `default`, a temporary user with the same password is created for the restore's duration; any other
/// application sharing Coffer's user could not be fenced.
package struct RedisRestoreEngine: RedisRestoring {
    let blobs: any BlobStore
    let logger: Logger
    /// Bound for connecting (and authenticating).
    let connectTimeout: Duration
    /// Bound for one command, one pipelined batch's write or replies.
    let commandTimeout: Duration
    /// Longest silence while the safety snapshot streams.
    let snapshotIdleTimeout: Duration
    let clock: @Sendable () -> Date
    /// Where the replication fast path listens and what it tells the target to dial; nil turns the fast path off.
    let replication: ReplicaLoader.Options?

    package init(
        blobs: any BlobStore, logger: Logger, connectTimeout: Duration = .seconds(10), commandTimeout: Duration = .seconds(60),
        snapshotIdleTimeout: Duration = .seconds(60), replication: ReplicaLoader.Options? = ReplicaLoader.Options(),
        clock: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.replication = replication
        self.blobs = blobs
        self.logger = logger
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.snapshotIdleTimeout = snapshotIdleTimeout
        self.clock = clock
    }

    /// Where a restore's safety snapshot lives.
    static func safetyBlobKey(_ request: RedisRestoreRequest) -> String {
        "dcs-restore/\(request.target.projectID)/\(request.restoreID)/safety.rdb"
    }

    // MARK: - Restore

    package func restore(
        _ request: RedisRestoreRequest, save: @escaping @Sendable (RestoreCheckpoint) async throws -> Void,
        progress: @escaping @Sendable (Double) async -> Void
    ) async throws -> RestoreSummary {
        // The deployment as it is now: a cluster (or a cluster's backup) is restored by slot; a master/standby
        // instance is written through its master, whichever node it was adopted by, and its replicas follow.
        let topology = try await self.redis(phase: .fencing) {
            try await RedisInspector(timeout: self.connectTimeout, logger: self.logger).topology(of: request.target, now: self.clock())
        }
        if Self.isSharded(request, topology: topology) {
            return try await self.restoreSharded(request, topology: topology, save: save, progress: progress)
        }
        var request = request
        if let master = try Self.writeTargets(topology).first?.node {
            request = Self.nodeRequest(request, host: master.host, port: master.port)
        }
        let probe = try await self.probe(request)
        guard let backup = try await self.storage({ try await self.blobs.open(key: request.backupBlobKey) }) else {
            throw RedisRestoreError(.storage, "the backup file \(request.backupBlobKey) is missing from the blob store")
        }
        defer { backup.close() }
        if self.mayReplicate(to: request.target),
            let summary = try await self.restoreByReplication(request, target: probe.target, backup: backup, save: save, progress: progress)
        {
            return summary
        }
        try await self.checkTypes(backup, target: probe.target)
        return try await self.restoreCommands(request, probe: probe, backup: backup, save: save, progress: progress)
    }

    /// The plan: when the backup's format is newer than the target's, it may hold types the target cannot
    /// load; one reading pass finds the first such key before anything on the target changes. (When the
    /// formats agree the pass is skipped: it would double the reading for nothing.)
    func checkTypes(_ backup: any BlobReader, target: RestoreTarget) async throws {
        let header = try await self.storage { try await backup.read(at: 0, upTo: 9) }
        guard let version = header.getString(at: header.readerIndex + 5, length: 4).flatMap({ Int($0) }), version > target.rdbVersion else { return }
        let chunks = BlobChunks(blob: backup)
        var reader = RDBRecordReader(nextChunk: { try await chunks.next() })
        do {
            while let item = try await reader.next() {
                if case .record(let record) = item, !target.knows(type: record.type) {
                    throw RestoreWriteError.unknownType(key: record.printableKey, type: record.type, target: target)
                }
            }
        } catch {
            throw Self.restoreError(error, phase: .writing)
        }
    }

    /// What the probe learned about the target.
    struct Probe {
        var target: RestoreTarget
        /// The user Coffer connects as (`ACL WHOAMI`).
        var user: String
        var users: [RestoreFence.User]
    }

    /// Connects with the instance's credentials and reads the server version and the ACL users.
    func probe(_ request: RedisRestoreRequest) async throws -> Probe {
        try await self.redis(phase: .fencing) {
            try await RedisConnection.withConnection(to: Self.endpoint(request.target), timeout: self.connectTimeout, logger: self.logger) { connection in
                let info = try await connection.info("server", timeout: self.commandTimeout)
                let target = RestoreTarget(redisVersion: info.redisVersion, valkeyVersion: info.value("valkey_version"))
                let whoami = try await connection.commandExpectingSuccess(["ACL", "WHOAMI"], timeout: self.commandTimeout).string ?? "default"
                return Probe(target: target, user: whoami, users: try await RestoreFence.users(connection))
            }
        }
    }

    /// The `RESTORE` path: fence, safety snapshot, flush, write, unfence.
    private func restoreCommands(
        _ request: RedisRestoreRequest, probe: Probe, backup: any BlobReader, save: @escaping @Sendable (RestoreCheckpoint) async throws -> Void,
        progress: @escaping @Sendable (Double) async -> Void
    ) async throws -> RestoreSummary {
        let temporary = probe.user == "default" ? RestoreFence.temporaryUserName(restoreID: request.restoreID) : nil
        // Everyone but the user the restore works as: with a temporary user, `default` is switched off too.
        let worker = temporary ?? probe.user
        var state = RedisRestoreState(
            phase: .fencing,
            disabledUsers: probe.users.filter { $0.isOn && $0.name != worker }.map(\.name),
            temporaryUser: temporary, safetyBlobKey: Self.safetyBlobKey(request))
        state.targetHost = request.target.host
        state.targetPort = request.target.port
        try await self.checkpoint(state, save)
        let summary: RestoreWriteSummary
        var timings: (fence: Duration, snapshot: Duration) = (.zero, .zero)
        var writing = Duration.zero
        do {
            let fenceStarted = ContinuousClock.now
            try await self.fence(request, state: state)
            state.phase = .snapshotting
            try await self.checkpoint(state, save)
            let snapshotStarted = ContinuousClock.now
            try await self.takeSafetySnapshot(request, state: &state, save: save)
            timings = (snapshotStarted - fenceStarted, ContinuousClock.now - snapshotStarted)
            state.phase = .writing
            try await self.checkpoint(state, save)
            let writeStarted = ContinuousClock.now
            defer { writing = ContinuousClock.now - writeStarted }
            summary = try await self.redis(phase: .writing) {
                try await self.withWorkConnection(request, state: state) { connection in
                    try await self.flush(connection, target: probe.target)
                    return try await self.write(backup, into: connection, target: probe.target, progress: progress)
                }
            }
            state.phase = .completed
            try await self.checkpoint(state, save)
        } catch {
            throw await self.failed(request, error: error, phase: state.phase) { try await self.rollBack(request, state: state) }
        }
        try await self.cleanUpRetrying(request) { try await self.cleanUp(request, state: state) }
        self.logger.info(
            "DCS restore succeeded",
            metadata: [
                "restore.id": "\(request.restoreID)", "restore.keys": "\(summary.keys)", "restore.functions": "\(summary.functions)",
                "restore.expired_skipped": "\(summary.expiredSkipped)", "restore.fence_s": "\(timings.fence)",
                "restore.safety_snapshot_s": "\(timings.snapshot)", "restore.write_s": "\(writing)",
            ])
        return RestoreSummary(path: .restoreCommands, keys: summary.keys)
    }

    /// The error to throw for a restore that failed in `phase`: a cancelled one (the process going away) leaves the
    /// rollback to the checkpoint's recovery; any other is rolled back now (`rollBack`), its own failure only logged
    /// (the checkpoint still names what to undo).
    func failed(
        _ request: RedisRestoreRequest, error: any Error, phase: RedisRestoreState.Phase, rollBack: () async throws -> Void
    ) async -> RedisRestoreError {
        let failure = Self.restoreError(error, phase: phase)
        if error is CancellationError || Task.isCancelled {
            self.logger.warning("DCS restore cancelled", metadata: ["restore.id": "\(request.restoreID)", "restore.phase": "\(phase)"])
            return RedisRestoreError(.timedOut, "the restore was cancelled in phase \(phase.rawValue)")
        }
        self.logger.error("DCS restore failed, rolling back", metadata: ["restore.id": "\(request.restoreID)", "error": "\(failure)"])
        do {
            try await rollBack()
        } catch {
            self.logger.error(
                "DCS restore rollback failed; the checkpoint still names what to undo",
                metadata: ["restore.id": "\(request.restoreID)", "error": "\(error)"])
        }
        return failure
    }

    /// The data is in: a fence left up would lock the application out, so the clean-up is tried three times before
    /// the failure is reported (recovery from the `completed` checkpoint finishes it too).
    func cleanUpRetrying(_ request: RedisRestoreRequest, _ cleanUp: () async throws -> Void) async throws {
        for attempt in 1...3 {
            do {
                try await cleanUp()
                return
            } catch {
                self.logger.warning("DCS restore clean-up failed", metadata: ["restore.id": "\(request.restoreID)", "attempt": "\(attempt)", "error": "\(error)"])
                guard attempt < 3 else { throw RedisRestoreError(.redis, "the data is restored but unfencing failed: \(error)") }
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    // MARK: - Recovery

    package func recover(_ request: RedisRestoreRequest, from checkpoint: RestoreCheckpoint) async throws -> RestoreRecovery {
        if let sharded = ShardedRestoreState(checkpoint) { return try await self.recoverSharded(request, state: sharded) }
        let state: RedisRestoreState
        do {
            state = try RedisRestoreState(checkpoint)
        } catch {
            throw RedisRestoreError(.synchronization, "the restore checkpoint is unreadable: \(error)")
        }
        // The server the restore wrote to (a master/standby instance's master), not necessarily the adopted address.
        var request = request
        if let host = state.targetHost, let port = state.targetPort { request = Self.nodeRequest(request, host: host, port: port) }
        if state.phase == .replicating { return try await self.recoverReplication(request, state: state) }
        if state.phase == .completed {
            try await self.redis(phase: .fencing) { try await self.cleanUp(request, state: state) }
            return .completed
        }
        do {
            try await self.rollBack(request, state: state)
        } catch {
            throw Self.restoreError(error, phase: state.phase)
        }
        return .rolledBack
    }

    // MARK: - Steps

    func fence(_ request: RedisRestoreRequest, state: RedisRestoreState) async throws {
        try await self.redis(phase: .fencing) {
            if let temporary = state.temporaryUser {
                try await RedisConnection.withConnection(to: Self.endpoint(request.target), timeout: self.connectTimeout, logger: self.logger) {
                    try await RestoreFence.createTemporaryUser(temporary, password: request.target.password, on: $0)
                }
            }
            try await self.withWorkConnection(request, state: state) { connection in
                try await RestoreFence.disable(state.disabledUsers, on: connection)
            }
        }
    }

    /// Pulls the target's own snapshot into the blob store and commits it before the checkpoint says so.
    func takeSafetySnapshot(
        _ request: RedisRestoreRequest, state: inout RedisRestoreState, save: @escaping @Sendable (RestoreCheckpoint) async throws -> Void
    ) async throws {
        let original: String? = try await self.redis(phase: .snapshotting) {
            try await self.withWorkConnection(request, state: state) { connection in
                let reply = try await connection.command(["CONFIG", "GET", "repl-diskless-sync-delay"], timeout: self.commandTimeout)
                guard let values = reply.array, values.count == 2, let value = values[1].string, value != "0" else { return nil }
                return value
            }
        }
        if let original {
            state.disklessSyncDelay = original
            try await self.checkpoint(state, save)
            _ = try await self.redis(phase: .snapshotting) {
                try await self.withWorkConnection(request, state: state) {
                    try await $0.commandExpectingSuccess(["CONFIG", "SET", "repl-diskless-sync-delay", "0"], timeout: self.commandTimeout)
                }
            }
        }
        // The snapshot is a replication sync, after which the target keeps a replication backlog for
        // `repl-backlog-ttl` (1 h) and appends every write to it: 20–30 % more server time per RESTORE of a small
        // key (bench/restore). With no replica attached nobody can use it (the dataset is being replaced), so the
        // TTL is lowered to 1 s and the target frees it within a second or two; it is put back by the clean-up.
        // A target with replicas keeps its backlog: the TTL only counts while no replica is attached.
        let backlogTTL: String? = try await self.redis(phase: .snapshotting) {
            try await self.withWorkConnection(request, state: state) { connection in
                let reply = try await connection.command(["CONFIG", "GET", "repl-backlog-ttl"], timeout: self.commandTimeout)
                guard let values = reply.array, values.count == 2, let value = values[1].string, value != "1" else { return nil }
                return value
            }
        }
        if let backlogTTL {
            state.backlogTTL = backlogTTL
            try await self.checkpoint(state, save)
            _ = try await self.redis(phase: .snapshotting) {
                try await self.withWorkConnection(request, state: state) {
                    try await $0.commandExpectingSuccess(["CONFIG", "SET", "repl-backlog-ttl", "1"], timeout: self.commandTimeout)
                }
            }
        }
        try await self.storage { try await self.blobs.delete(key: state.safetyBlobKey) }
        let writer = try await self.storage { try await self.blobs.makeWriter(key: state.safetyBlobKey) }
        do {
            let connection = try await self.redis(phase: .snapshotting) {
                try await RedisConnection.connect(to: Self.workEndpoint(request, state: state), timeout: self.connectTimeout, logger: self.logger)
            }
            _ = try await self.redis(phase: .snapshotting) {
                try await connection.pullSnapshot(idleTimeout: self.snapshotIdleTimeout, sink: { try await writer.write($0) })
            }
            _ = try await self.storage { try await writer.commit() }
        } catch {
            await writer.abort()
            throw error
        }
        state.safetyCommitted = true
        try await self.checkpoint(state, save)
        if let original {
            _ = try await self.redis(phase: .snapshotting) {
                try await self.withWorkConnection(request, state: state) {
                    try await $0.commandExpectingSuccess(["CONFIG", "SET", "repl-diskless-sync-delay", original], timeout: self.commandTimeout)
                }
            }
            state.disklessSyncDelay = nil
            try await self.checkpoint(state, save)
        }
    }

    /// Empties every database and, on Redis 7, the function libraries.
    ///
    /// `FLUSHALL ASYNC` when the old dataset and the one about to be written both fit under `maxmemory` (or none
    /// is set): the server's lazy-free thread frees the old keys while the new ones arrive, and its main thread
    /// is back at once (1M small keys: 0.88 s synchronous, 15 ms asynchronous, bench/restore's dataset). Near the
    /// limit the old memory must be gone before the first write, so the flush stays synchronous.
    func flush(_ connection: RedisConnection, target: RestoreTarget) async throws {
        let memory = try await connection.info("memory", timeout: self.commandTimeout)
        let used = memory.value("used_memory").flatMap(Int64.init) ?? .max
        let limit = memory.value("maxmemory").flatMap(Int64.init) ?? 1
        let lazily = limit == 0 || used <= limit / 2
        try await connection.commandExpectingSuccess(lazily ? ["FLUSHALL", "ASYNC"] : ["FLUSHALL"], timeout: self.commandTimeout)
        if target.rdbVersion >= 10 {
            try await connection.commandExpectingSuccess(["FUNCTION", "FLUSH"], timeout: self.commandTimeout)
        }
    }

    /// Streams an RDB blob into the target with the pipelined writer.
    func write(
        _ blob: any BlobReader, into connection: RedisConnection, target: RestoreTarget, progress: @escaping @Sendable (Double) async -> Void
    ) async throws -> RestoreWriteSummary {
        let chunks = BlobChunks(blob: blob)
        var reader = RDBRecordReader(nextChunk: { try await chunks.next() })
        let writer = RestoreWriter(connection: connection, target: target, timeout: self.commandTimeout)
        let size = Double(max(1, blob.size))
        let summary = try await writer.write(
            from: &reader, nowMilliseconds: { Int64((self.clock().timeIntervalSince1970 * 1000).rounded(.down)) },
            progress: { await progress(min(1, Double($0) / size)) })
        return summary
    }

    /// Puts the target back as the checkpoint says it was: data from the safety snapshot (when the flush may
    /// have run and the snapshot is still stored; any other connection of the work user is closed first), the
    /// diskless delay, the fence, the temporaries. Every step is harmless when repeated, and the safety snapshot
    /// is deleted last, only once the data is back.
    func rollBack(_ request: RedisRestoreRequest, state: RedisRestoreState) async throws {
        if state.phase == .writing, state.safetyCommitted {
            if let safety = try await self.storage({ try await self.blobs.open(key: state.safetyBlobKey) }) {
                defer { safety.close() }
                await self.closeStalledWriters(request, state: state)
                try await self.withWorkConnection(request, state: state) { connection in
                    let info = try await connection.info("server", timeout: self.commandTimeout)
                    let target = RestoreTarget(redisVersion: info.redisVersion, valkeyVersion: info.value("valkey_version"))
                    try await self.flush(connection, target: target)
                    _ = try await self.write(safety, into: connection, target: target, progress: { _ in })
                }
            }
        }
        if let original = state.disklessSyncDelay {
            _ = try await self.withWorkConnection(request, state: state) {
                try await $0.commandExpectingSuccess(["CONFIG", "SET", "repl-diskless-sync-delay", original], timeout: self.commandTimeout)
            }
        }
        try await self.cleanUp(request, state: state)
        self.logger.info("DCS restore rolled back", metadata: ["restore.id": "\(request.restoreID)"])
    }

    /// Closes the other connections of the restore's work user on the target (``RestoreFence/closeOtherConnections(on:)``)
    /// before a rollback writes. A safeguard on top of the job's lease, so a failure only logs: the target may be out
    /// of reach (then no writer reaches it either), and the rollback's own errors say more.
    func closeStalledWriters(_ request: RedisRestoreRequest, state: RedisRestoreState) async {
        do {
            try await self.withWorkConnection(request, state: state) { try await RestoreFence.closeOtherConnections(on: $0) }
        } catch {
            self.logger.warning(
                "DCS restore rollback: cannot close the restore's other connections", metadata: ["restore.id": "\(request.restoreID)", "error": "\(error)"])
        }
    }

    /// Puts the backlog TTL back, unfences, deletes the temporary user, then the safety snapshot.
    func cleanUp(_ request: RedisRestoreRequest, state: RedisRestoreState) async throws {
        try await self.withWorkConnection(request, state: state) { connection in
            if let original = state.backlogTTL {
                try await connection.commandExpectingSuccess(["CONFIG", "SET", "repl-backlog-ttl", original], timeout: self.commandTimeout)
            }
            try await RestoreFence.enable(state.disabledUsers, on: connection)
        }
        if let temporary = state.temporaryUser {
            // Through Coffer's own user, now on again: deleting the user a connection runs as closes it.
            _ = try await RedisConnection.withConnection(to: Self.endpoint(request.target), timeout: self.connectTimeout, logger: self.logger) {
                try await $0.commandExpectingSuccess(["ACL", "DELUSER", temporary], timeout: self.commandTimeout)
            }
        }
        try await self.storage { try await self.blobs.delete(key: state.safetyBlobKey) }
    }

    // MARK: - Connections

    static func endpoint(_ instance: DCSInstance) -> RedisEndpoint {
        RedisEndpoint(host: instance.host, port: instance.port, username: instance.accessUser, password: instance.password)
    }

    /// The user the restore works as: the temporary user when Coffer's own is `default` (any password
    /// opens a `nopass` user, so one is always sent: `AUTH` is what selects the user).
    static func workEndpoint(_ request: RedisRestoreRequest, state: RedisRestoreState) -> RedisEndpoint {
        guard let temporary = state.temporaryUser else { return Self.endpoint(request.target) }
        return RedisEndpoint(host: request.target.host, port: request.target.port, username: temporary, password: request.target.password ?? "nopass")
    }

    /// Runs `body` on a connection as the work user; when that user does not exist (a crash before it was
    /// created), as Coffer's own user, which was then never switched off.
    func withWorkConnection<Result: Sendable>(
        _ request: RedisRestoreRequest, state: RedisRestoreState, _ body: (RedisConnection) async throws -> Result
    ) async throws -> Result {
        let connection: RedisConnection
        do {
            connection = try await RedisConnection.connect(to: Self.workEndpoint(request, state: state), timeout: self.connectTimeout, logger: self.logger)
        } catch RedisError.authenticationFailed where state.temporaryUser != nil {
            connection = try await RedisConnection.connect(to: Self.endpoint(request.target), timeout: self.connectTimeout, logger: self.logger)
        }
        do {
            let result = try await body(connection)
            await connection.close()
            return result
        } catch {
            await connection.close()
            throw error
        }
    }

    // MARK: - Errors

    func checkpoint(_ state: RedisRestoreState, _ save: @Sendable (RestoreCheckpoint) async throws -> Void) async throws {
        try await self.saving { try await save(state.checkpoint) }
    }

    /// Runs a blob store operation; its failures become `.storage`.
    func storage<Result>(_ body: () async throws -> Result) async throws -> Result {
        do {
            return try await body()
        } catch let error as RedisRestoreError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw RedisRestoreError(.storage, "blob store: \(error)")
        }
    }

    /// Runs Redis work; its failures become the code of `phase`.
    func redis<Result>(phase: RedisRestoreState.Phase, _ body: () async throws -> Result) async throws -> Result {
        do {
            return try await body()
        } catch {
            throw Self.restoreError(error, phase: phase)
        }
    }

    /// The record's code for `error`: Redis unreachable or refusing Coffer before any write → `.redis`; a
    /// refused record or a target lost while writing → `.synchronization`; time-outs → `.timedOut`; the blob
    /// store → `.storage`.
    static func restoreError(_ error: any Error, phase: RedisRestoreState.Phase) -> RedisRestoreError {
        switch error {
        case let error as RedisRestoreError: return error
        case let error as RestoreWriteError: return RedisRestoreError(.synchronization, error.description)
        case let error as BlobReadError: return RedisRestoreError(.storage, "reading the backup file: \(error.underlying)")
        case RedisError.timedOut(let detail): return RedisRestoreError(.timedOut, "Redis: \(detail)")
        case let error as RedisError:
            return RedisRestoreError(phase == .writing ? .synchronization : .redis, "Redis: \(error)")
        case is CancellationError: return RedisRestoreError(.timedOut, "the restore was cancelled")
        default: return RedisRestoreError(phase == .writing ? .synchronization : .redis, "\(error)")
        }
    }
}

/// A failure of the blob store while the backup streams (kept apart from the Redis side's failures).
struct BlobReadError: Error {
    var underlying: any Error
}

/// Hands a blob to the RDB reader in 1 MiB chunks.
final class BlobChunks: @unchecked Sendable {
    // Used by one reader at a time, in order: the offset is never touched concurrently.
    private let blob: any BlobReader
    private var offset: Int64 = 0

    init(blob: any BlobReader) { self.blob = blob }

    func next() async throws -> ByteBuffer? {
        let chunk: ByteBuffer
        do {
            chunk = try await self.blob.read(at: self.offset, upTo: 1 << 20)
        } catch {
            throw BlobReadError(underlying: error)
        }
        guard chunk.readableBytes > 0 else { return nil }
        self.offset += Int64(chunk.readableBytes)
        return chunk
    }
}
