import CofferCore
import CofferRedis
import Foundation
import Logging
import NIOCore
import Synchronization

/// A Redis Cluster backup: one record, one RDB per shard.
///
/// Each shard's snapshot comes from a healthy replica when it has one (from its master otherwise, or when the
/// replica fails mid-pull: the shard starts again from the master, `retried` in its entry). Every shard's source is
/// connected first and then every pull is started at once, so the shards' points in time are as close as the servers
/// allow (each server forks for its snapshot when its `SYNC` arrives; see the README on cross-shard consistency).
/// Nothing is committed until every shard's RDB is whole (end marker and CRC-64 checked while it streamed); any
/// shard's failure aborts every writer, and the record fails with no file left.
extension DCSBackupJob {
    /// One shard's finished pull, not yet committed.
    private struct Pulled: Sendable {
        var index: Int
        var source: DCSTopology.Node
        var retried: Bool
        var summary: SnapshotSummary
        var writer: any BlobWriter
    }

    /// One shard's first source, connected before any pull starts.
    private struct Opened: Sendable {
        var index: Int
        var sourceIndex: Int
        var connection: RedisConnection
        var keyspace: [Int: Int]
    }

    /// What a failure must undo at once: the open writers (aborted) and connections (closed, so every pull stops now
    /// rather than at its idle timeout).
    private final class InFlight: Sendable {
        private struct State {
            var writers: [Int: any BlobWriter] = [:]
            var connections: [Int: RedisConnection] = [:]
            var failed = false
        }
        private let state = Mutex(State())

        func track(_ index: Int, writer: (any BlobWriter)?, connection: RedisConnection?) {
            self.state.withLock {
                $0.writers[index] = writer
                $0.connections[index] = connection
            }
        }

        /// Whether a shard failed for good: no other shard may start over then.
        var failed: Bool { self.state.withLock { $0.failed } }

        /// Marks the backup failed and closes every connection, so the other pulls end now.
        func failAll() async {
            let connections = self.state.withLock { state in
                state.failed = true
                return Array(state.connections.values)
            }
            for connection in connections { await connection.close() }
        }

        func drain() -> ([any BlobWriter], [RedisConnection]) {
            self.state.withLock { state in
                defer { state = State() }
                return (Array(state.writers.values), Array(state.connections.values))
            }
        }
    }

    /// Progress over every shard: the mean of their fractions (a shard that cannot tell yet counts as 0).
    private final class ShardsProgress: Sendable {
        private let reports: Mutex<[SnapshotProgress?]>

        init(count: Int) { self.reports = Mutex(Array(repeating: nil, count: count)) }

        func update(_ index: Int, _ report: SnapshotProgress) { self.reports.withLock { $0[index] = report } }

        var fraction: Double? {
            self.reports.withLock { reports in
                guard !reports.isEmpty, reports.contains(where: { $0?.fraction != nil }) else { return nil }
                return reports.map { $0?.fraction ?? 0 }.reduce(0, +) / Double(reports.count)
            }
        }
    }

    func runSharded(record original: DCSBackupRecord, instance: DCSInstance, topology: DCSTopology, started: Date) async throws {
        var record = original
        guard record.backupFormat == .rdb, topology.shards.count <= DCSBackupFiles.maximumShards else {
            // The request path refuses AOF for clusters; an instance that became one since gets a clean failure.
            self.logger.error("DCS backup failed: a cluster is backed up as RDB, at most 64 shards", metadata: ["backup.id": "\(record.id)"])
            _ = try? await self.fail(&record, .redis)
            throw DCSError.invalidParameter("backup_format", "A cluster instance is backed up as rdb.")
        }
        let shards = topology.shards
        let inFlight = InFlight()
        let progress = ShardsProgress(count: shards.count)
        do {
            let pulled = try await withThrowingTaskGroup(of: [Pulled]?.self) { group in
                group.addTask {
                    await self.recordProgress(record: original) { progress.fraction }
                    return nil
                }
                defer { group.cancelAll() }
                group.addTask {
                    let opened = try await self.openSources(shards: shards, instance: instance, inFlight: inFlight)
                    // Every source connected: start every pull now, together.
                    return try await withThrowingTaskGroup(of: Pulled.self) { pulls in
                        for open in opened {
                            pulls.addTask {
                                try await self.pullShard(
                                    open, shard: shards[open.index], record: original, instance: instance, inFlight: inFlight, progress: progress)
                            }
                        }
                        var done: [Pulled] = []
                        for try await shard in pulls { done.append(shard) }
                        return done
                    }
                }
                while let next = try await group.next() {
                    if let done = next { return done.sorted { $0.index < $1.index } }
                }
                throw CancellationError()
            }
            // Every RDB is whole: publish them all (the fsyncs overlap); if any commit fails, none may remain.
            let blobs = try await withThrowingTaskGroup(of: (Int, BlobInfo).self) { group in
                for shard in pulled { group.addTask { (shard.index, try await shard.writer.commit()) } }
                var blobs: [Int: BlobInfo] = [:]
                for try await (index, blob) in group { blobs[index] = blob }
                return blobs
            }
            record.shards = try pulled.map { shard in
                guard let blob = blobs[shard.index] else { throw DCSError.internalError }
                let master = shards[shard.index].master
                return DCSBackupShard(
                    index: shard.index, slots: shards[shard.index].slots, masterHost: master?.host ?? shard.source.host,
                    masterPort: master?.port ?? shard.source.port, sourceHost: shard.source.host, sourcePort: shard.source.port,
                    sourceRole: shard.source.role, retried: shard.retried, blobKey: blob.key, size: blob.size, sha256: blob.sha256,
                    keys: shard.summary.keys)
            }
            record.status = .succeed
            record.progress = .complete
            record.size = blobs.values.map(\.size).reduce(0, +)
            record.blobKey = nil
            record.sha256 = nil
            // A restore routes every key of every shard's file by its slot (`RedisRestoreEngine+Shards.swift`).
            record.isSupportRestore = true
            record.updatedAt = self.clock()
            try await self.publish(record, shardCount: shards.count)
            self.logger.info(
                "DCS cluster backup succeeded",
                metadata: [
                    "backup.id": "\(record.id)", "backup.bytes": "\(record.size)", "backup.shards": "\(shards.count)",
                    "backup.keys": "\(pulled.map(\.summary.keys).reduce(0, +))",
                    "backup.sources": "\((record.shards ?? []).map { "\($0.sourceHost):\($0.sourcePort)(\($0.sourceRole.rawValue)\($0.retried ? ",retried" : ""))" }.joined(separator: " "))",
                    "backup.seconds": "\(record.updatedAt.timeIntervalSince(started))",
                ])
        } catch {
            let (writers, connections) = inFlight.drain()
            for connection in connections { await connection.close() }
            for writer in writers { await writer.abort() }
            let cause: BackupFailure =
                switch error {
                case RedisError.timedOut, is CancellationError: .timedOut
                case is RedisError: .redis
                default: .storage
                }
            self.logger.error("DCS cluster backup failed", metadata: ["backup.id": "\(record.id)", "error": "\(error)"])
            // A commit that succeeded before another failed left a file: every shard's goes (unless the record says
            // `succeed` after all).
            await self.failAndRemoveFiles(&record, cause, shardCount: shards.count)
            throw error
        }
    }

    /// Connects to every shard's first source that answers (its key counts read for progress), all concurrently.
    private func openSources(shards: [DCSTopology.Shard], instance: DCSInstance, inFlight: InFlight) async throws -> [Opened] {
        try await withThrowingTaskGroup(of: Opened.self) { group in
            for (index, shard) in shards.enumerated() {
                group.addTask {
                    var lastError: (any Error) = DCSError.redisUnreachable(instance.address, "a shard has no reachable node")
                    for (sourceIndex, source) in shard.snapshotSources.enumerated() {
                        do {
                            let connection = try await RedisConnection.connect(
                                to: self.endpoint(source, instance), timeout: self.connectTimeout, logger: self.logger)
                            inFlight.track(index, writer: nil, connection: connection)
                            let keyspace = (try? await connection.info("keyspace"))?.dbKeyCounts?.mapValues(\.keys) ?? [:]
                            return Opened(index: index, sourceIndex: sourceIndex, connection: connection, keyspace: keyspace)
                        } catch let error as RedisError {
                            lastError = error
                        }
                    }
                    throw lastError
                }
            }
            var opened: [Opened] = []
            for try await open in group { opened.append(open) }
            return opened
        }
    }

    /// Pulls one shard into its file, moving to the shard's next source (the master) when a replica fails mid-pull.
    private func pullShard(
        _ open: Opened, shard: DCSTopology.Shard, record: DCSBackupRecord, instance: DCSInstance, inFlight: InFlight, progress: ShardsProgress
    ) async throws -> Pulled {
        let sources = shard.snapshotSources
        var sourceIndex = open.sourceIndex
        var connection = open.connection
        var keyspace = open.keyspace
        while true {
            let writer: any BlobWriter
            do {
                writer = try await self.blobs.makeWriter(key: DCSBackupFiles.shardKey(record, index: open.index))
            } catch {
                await connection.close()
                throw error
            }
            inFlight.track(open.index, writer: writer, connection: connection)
            do {
                let summary = try await connection.pullSnapshot(
                    idleTimeout: self.idleTimeout, expectedKeys: keyspace, sink: { try await writer.write($0) },
                    progress: { progress.update(open.index, $0) })
                // Durable now, while the other shards still stream: only the last shard's fsync waits at the end.
                try await writer.flush()
                return Pulled(index: open.index, source: sources[sourceIndex], retried: sourceIndex > open.sourceIndex, summary: summary, writer: writer)
            } catch let error as RedisError where sourceIndex + 1 < sources.count && !Task.isCancelled && !inFlight.failed {
                await writer.abort()
                self.logger.warning(
                    "DCS backup: a shard's source failed, taking the snapshot from the next",
                    metadata: [
                        "backup.id": "\(record.id)", "backup.shard": "\(open.index)", "backup.source": "\(sources[sourceIndex].address)",
                        "error": "\(error)",
                    ])
                sourceIndex += 1
                inFlight.track(open.index, writer: nil, connection: nil)
                do {
                    connection = try await RedisConnection.connect(
                        to: self.endpoint(sources[sourceIndex], instance), timeout: self.connectTimeout, logger: self.logger)
                } catch {
                    await inFlight.failAll()
                    throw error
                }
                inFlight.track(open.index, writer: nil, connection: connection)
                keyspace = (try? await connection.info("keyspace"))?.dbKeyCounts?.mapValues(\.keys) ?? [:]
            } catch {
                await writer.abort()
                await inFlight.failAll()
                throw error
            }
        }
    }

    private func endpoint(_ node: DCSTopology.Node, _ instance: DCSInstance) -> RedisEndpoint {
        RedisEndpoint(host: node.host, port: node.port, username: instance.accessUser, password: instance.password)
    }

    /// Writes the backup's progress about once a second until cancelled; monotonic (an estimate may dip, the record
    /// never does) and below 100 % until the record succeeds.
    func recordProgress(record: DCSBackupRecord, fraction: @escaping @Sendable () -> Double?) async {
        var recorded = DCSBackupRecord.Progress.zero
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            guard let fraction = fraction() else { continue }
            let next = min(DCSBackupRecord.Progress(hundredths: 9_999), DCSBackupRecord.Progress(fraction: fraction))
            if next.hundredths > recorded.hundredths {
                try? await self.store.updateBackupProgress(projectID: record.projectID, id: record.id, progress: next, at: self.clock())
                recorded = next
            }
        }
    }
}
