import CofferCore
import CofferJobs
import CofferMySQL
import Crypto
import Foundation
import Logging
import NIOCore

/// `ddm.restore` (`RestoreInstance`): for each relation, loads the backup's dump of the source node into the target
/// node (blob → `zstd -d` → `mariadb`, streamed, SHA-256 checked), then — for a point-in-time restore — replays the
/// source node's archived binlog from the cut's exact coordinates up to the whole second of `restore_time` (every
/// segment's SHA-256 checked before use), sets `gtid_slave_pos` and rolls back XA branches the replay left
/// prepared. Then the target instance gets the source's schemas and shard layout from the backup's metadata.
///
/// Resumable (as `dcs.restore`): every shard database it writes was checked absent when the request was accepted
/// and the target instance is fenced by the job itself, so an attempt interrupted by a crash or a restart is run
/// again from the start after dropping what the earlier attempt wrote (`maxAttempts` 2). When it finally fails,
/// `jobFailed` drops them too, so a target is never left half-restored silently.
package struct DDMRecoveryJob: JobHandler {
    let store: any DDMStore
    let archive: (any BinlogArchiveStore)?
    let blobs: any BlobStore
    let jobs: any JobStore
    let loader: RestoreLoader
    let logger: Logger
    let clock: @Sendable () -> Date

    package var kind: String { JobKind.ddmRestore.rawValue }
    package var isIdempotent: Bool { true }
    /// Attempts of a recovery job: the first, and one resumption after a crash or restart.
    package static let maxAttempts = 2

    /// The failure code of a recovery (`fail_reason` starts with it): DDM's "Data migration error."
    static let failureCode = "DBS.300331"

    struct Failure: Error, CustomStringConvertible {
        var detail: String
        var description: String { "\(DDMRecoveryJob.failureCode): \(self.detail)" }
    }

    package func run(_ job: Job) async throws {
        guard let plan = DDMRecoveryPlan.decode(job.payload) else { throw Failure(detail: "the job's plan is unreadable") }
        guard let backup = try await self.store.backup(projectID: job.projectID, id: plan.backupID), backup.status == .normal else {
            throw Failure(detail: "backup \(plan.backupID) is no longer usable")
        }
        let metadata = try await Self.readMetadata(backup, blobs: self.blobs)
        let accounts = Self.accounts(try await self.store.schemas(projectID: job.projectID, instanceID: plan.instanceID))
        let nodes = try await self.store.dataNodes(projectID: job.projectID, ids: plan.relations.map(\.target))
        let owner = job.leaseOwner ?? ""
        if job.attempts > 1 {
            // An earlier attempt was interrupted: start again from clean target nodes.
            self.logger.warning("DDM recovery resumed: dropping what the interrupted attempt wrote", metadata: ["job.id": "\(job.id)"])
            try await self.dropWritten(plan: plan, backup: backup, projectID: job.projectID)
        }
        var result = DDMRecoveryResult(
            point: plan.point, backupID: backup.id, cutAt: WireTime.epochMilliseconds(backup.cutInstant), restoreTime: plan.restoreTime, nodes: [])
        let steps = plan.relations.count * (plan.point == .consistent ? 1 : 2) + 1
        var done = 0
        func report() async {
            _ = try? await self.jobs.report(jobID: job.id, owner: owner, progress: done * 100 / steps, result: result.json, now: self.clock())
        }
        await report()
        for relation in plan.relations {
            guard let node = nodes[relation.target], let account = accounts[relation.target] else {
                throw Failure(detail: "target data node \(relation.target) is no longer a data node of the target instance")
            }
            let endpoint = MySQLEndpoint(host: node.host, port: node.port, user: account.user, password: account.password)
            let files = backup.files.filter { $0.nodeID == relation.source }
            guard let first = files.first else { throw Failure(detail: "backup \(backup.id) has no dump of data node \(relation.source)") }
            let preparedBefore = try await self.preparedXA(endpoint)
            for file in files { try await self.load(file, into: endpoint, node: node) }
            done += 1
            await report()
            var entry = DDMRecoveryResult.Node(
                source: relation.source, target: relation.target, gtidPosition: first.gtidPosition, replayedTransactions: 0, lastReplayedAt: nil,
                notes: [])
            if plan.point == .pointInTime {
                let outcome = try await self.replay(
                    sourceNode: relation.source, from: BinlogCursor(file: first.binlogFile, position: first.binlogPosition),
                    until: WireTime.date(epochMilliseconds: plan.restoreTime), into: endpoint, node: node)
                entry.replayedTransactions = outcome.transactions
                entry.lastReplayedAt = outcome.lastEventAt.map(WireTime.epochMilliseconds)
                entry.gtidPosition = Self.advance(first.gtidPosition, by: outcome.lastGTIDs)
                done += 1
            }
            entry.notes += await self.afterReplay(endpoint, node: node, gtid: entry.gtidPosition, preparedBefore: preparedBefore)
            result.nodes.append(entry)
            await report()
        }
        try await Self.installSchemas(metadata, plan: plan, projectID: job.projectID, store: self.store, now: self.clock())
        done = steps
        await report()
        self.logger.info(
            "DDM recovery finished",
            metadata: ["job.id": "\(job.id)", "ddm.target.id": "\(plan.instanceID)", "ddm.restore.point": "\(plan.point.rawValue)"])
    }

    /// Drops the shard databases the job may have created on the target nodes (none existed when the request was
    /// accepted) and the schemas it may have given the target instance.
    package func jobFailed(_ job: Job, reason: String) async {
        guard let plan = DDMRecoveryPlan.decode(job.payload),
            let backup = try? await self.store.backup(projectID: job.projectID, id: plan.backupID)
        else { return }
        do {
            try await self.dropWritten(plan: plan, backup: backup, projectID: job.projectID)
            self.logger.error("DDM recovery failed; target shard databases dropped", metadata: ["job.id": "\(job.id)", "error": "\(reason)"])
        } catch {
            self.logger.error(
                "DDM recovery failed; dropping its target shard databases failed too",
                metadata: ["job.id": "\(job.id)", "error": "\(reason)", "cleanup.error": "\(error)"])
        }
    }

    /// Drops the shard databases the plan writes on each target node.
    private func dropWritten(plan: DDMRecoveryPlan, backup: DDMBackup, projectID: String) async throws {
        let accounts = Self.accounts(try await self.store.schemas(projectID: projectID, instanceID: plan.instanceID))
        let nodes = try await self.store.dataNodes(projectID: projectID, ids: plan.relations.map(\.target))
        for relation in plan.relations {
            guard let node = nodes[relation.target], let account = accounts[relation.target] else { continue }
            let endpoint = MySQLEndpoint(host: node.host, port: node.port, user: account.user, password: account.password)
            let databases = backup.files.filter { $0.nodeID == relation.source }.flatMap(\.databases)
            do {
                try await MySQLConnection.withConnection(to: endpoint, logger: self.logger) { connection in
                    for database in databases { try await connection.query("DROP DATABASE IF EXISTS `\(database)`") }
                }
            } catch let error as MySQLError {
                throw Failure(detail: "cannot clear target data node \(node.id) (\(node.address)): \(error)")
            }
        }
    }

    // MARK: - Steps

    /// Streams one dump blob through `zstd -d` into the target, hashing it on the way; a digest that differs from
    /// the recorded one fails the job.
    private func load(_ file: DDMBackup.File, into endpoint: MySQLEndpoint, node: DataNode) async throws {
        guard let reader = try await self.blobs.open(key: file.blobKey) else {
            throw Failure(detail: "the dump \(file.blobKey) of data node \(file.nodeID) is missing")
        }
        defer { reader.close() }
        let digest = DigestBox()
        do {
            try await self.loader.loadCompressedDump(into: endpoint) { write in
                var offset: Int64 = 0
                while true {
                    let chunk = try await reader.read(at: offset, upTo: 1 << 20)
                    if chunk.readableBytes == 0 { break }
                    digest.update(chunk)
                    offset += Int64(chunk.readableBytes)
                    try await write(chunk)
                }
            }
        } catch let error as MySQLError {
            throw Failure(detail: "loading the dump of \(file.nodeID) into data node \(node.id) (\(node.address)): \(error)")
        }
        guard digest.hex() == file.sha256 else {
            throw Failure(detail: "the dump \(file.blobKey) does not match its SHA-256 (recorded \(file.sha256), read \(digest.hex()))")
        }
    }

    /// Rebuilds the source node's binlog files from the archive (from the cut's file on, each from offset 0, every
    /// segment checked against its SHA-256 before use) in a private directory, then replays them in one session.
    private func replay(
        sourceNode: String, from cut: BinlogCursor, until: Date, into endpoint: MySQLEndpoint, node: DataNode
    ) async throws -> RestoreLoader.ReplayOutcome {
        guard let archive = self.archive else { throw Failure(detail: "binlog archiving is not configured") }
        let stop = Date(timeIntervalSince1970: until.timeIntervalSince1970.rounded(.down))
        let chosen = try Self.segments(try await archive.segments(nodeID: sourceNode), from: cut, until: stop, node: sourceNode)
        let directory = try await RestoreLoader.makeScratchDirectory()
        do {
            var paths: [String] = []
            for segment in chosen {
                let path = directory + "/" + segment.file
                let create = paths.last != path
                if create { paths.append(path) }
                try await self.append(segment, to: path, create: create)
            }
            let outcome = try await self.loader.replay(files: paths, startPosition: cut.position, stopBefore: stop, into: endpoint)
            await RestoreLoader.removeScratchDirectory(directory)
            return outcome
        } catch let error as MySQLError {
            await RestoreLoader.removeScratchDirectory(directory)
            throw Failure(detail: "replaying the binlog of \(sourceNode) into data node \(node.id) (\(node.address)): \(error)")
        } catch {
            await RestoreLoader.removeScratchDirectory(directory)
            throw error
        }
    }

    /// The segments to rebuild: every segment of the cut's file from offset 0, then the following ones while they
    /// continue byte for byte, up to the first one that begins after `until` (which may still hold earlier events).
    static func segments(_ all: [BinlogSegment], from cut: BinlogCursor, until: Date, node: String) throws -> [BinlogSegment] {
        let ordered = all.sorted { $0.sequence < $1.sequence }
        guard let start = ordered.firstIndex(where: { $0.file == cut.file && $0.startPosition == 0 }) else {
            throw Failure(detail: "the archive of data node \(node) does not hold binlog \(cut.file) from its start")
        }
        var chosen: [BinlogSegment] = [ordered[start]]
        for segment in ordered[(start + 1)...] {
            let previous = chosen[chosen.count - 1]
            let continues =
                (segment.file == previous.file && segment.startPosition == previous.endPosition)
                || (previous.closesFile && segment.file != previous.file && segment.startPosition == 0)
            guard continues else { break }
            chosen.append(segment)
            let pastCut = segment.file != cut.file || segment.startPosition >= cut.position
            if pastCut, let first = segment.firstEventAt, first > until { break }
        }
        guard chosen.contains(where: { $0.file == cut.file && $0.startPosition <= cut.position && cut.position <= $0.endPosition }) else {
            throw Failure(detail: "the archive of data node \(node) does not reach the cut \(cut)")
        }
        return chosen
    }

    /// Appends a segment's blob to `path`, checking its SHA-256 before the bytes are used.
    private func append(_ segment: BinlogSegment, to path: String, create: Bool) async throws {
        guard let reader = try await self.blobs.open(key: segment.blobKey) else {
            throw Failure(detail: "archived binlog segment \(segment.file)@\(segment.startPosition) (\(segment.blobKey)) is missing")
        }
        defer { reader.close() }
        var bytes = ByteBuffer()
        var offset: Int64 = 0
        while true {
            let chunk = try await reader.read(at: offset, upTo: 1 << 20)
            if chunk.readableBytes == 0 { break }
            offset += Int64(chunk.readableBytes)
            var copy = chunk
            bytes.writeBuffer(&copy)
        }
        let digest = Hex.encode(Array(SHA256.hash(data: Array(bytes.readableBytesView))))
        guard digest == segment.sha256 else {
            throw Failure(
                detail:
                    "archived binlog segment \(segment.file)@\(segment.startPosition) of data node \(segment.nodeID) does not match its SHA-256 (recorded \(segment.sha256), read \(digest)); the archive is corrupted"
            )
        }
        try await RestoreLoader.append(bytes, to: path, create: create)
    }

    /// After the data is in: `gtid_slave_pos` (MariaDB) and the XA branches the replay left prepared (rolled back:
    /// they had not committed on this node by `restore_time`). Returns notes for the result.
    private func afterReplay(_ endpoint: MySQLEndpoint, node: DataNode, gtid: String, preparedBefore: Set<String>) async -> [String] {
        var notes: [String] = []
        do {
            try await MySQLConnection.withConnection(to: endpoint, logger: self.logger) { connection in
                if node.engineName == "mariadb", !gtid.isEmpty {
                    do {
                        try await connection.query("SET GLOBAL gtid_slave_pos = '\(gtid.filter { $0.isNumber || $0 == "-" || $0 == "," })'")
                    } catch {
                        notes.append("gtid_slave_pos not set: \(error)")
                    }
                }
                let open = try await connection.query("XA RECOVER")
                for row in open.rows {
                    guard let xid = row.last ?? nil, !preparedBefore.contains(xid) else { continue }
                    let literal = "'" + xid.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "''") + "'"
                    try await connection.query("XA ROLLBACK \(literal)")
                    notes.append("prepared XA transaction \(xid) left open by the replay was rolled back")
                }
            }
        } catch {
            notes.append("post-restore checks failed: \(error)")
        }
        return notes
    }

    private func preparedXA(_ endpoint: MySQLEndpoint) async throws -> Set<String> {
        do {
            return try await MySQLConnection.withConnection(to: endpoint, logger: self.logger) { connection in
                Set(try await connection.query("XA RECOVER").rows.compactMap { $0.last ?? nil })
            }
        } catch let error as MySQLError {
            throw Failure(detail: "target data node \(endpoint.address): \(error)")
        }
    }

    // MARK: - Shared with the request and the metadata recovery

    /// Gives the target instance the backup's schemas, each shard on the node its source node maps to, with the
    /// account the target instance uses there. Schemas the target already has by name are skipped (an earlier
    /// attempt of this job wrote them: the request refused any clash).
    static func installSchemas(
        _ metadata: DDMBackupMetadata, plan: DDMRecoveryPlan, projectID: String, store: any DDMStore, now: Date
    ) async throws {
        let targetSchemas = try await store.schemas(projectID: projectID, instanceID: plan.instanceID)
        let accounts = Self.accounts(targetSchemas)
        let present = Set(targetSchemas.map(\.name))
        let mapping = Dictionary(plan.relations.map { ($0.source, $0.target) }, uniquingKeysWith: { a, _ in a })
        for schema in metadata.schemas where !present.contains(schema.name) {
            let parts = try schema.shards.map { shard -> DDMSchema.NodePart in
                guard let target = mapping[shard.dataNodeID], let account = accounts[target] else {
                    throw Failure(detail: "schema \(schema.name): data node \(shard.dataNodeID) has no target")
                }
                return DDMSchema.NodePart(nodeID: target, adminUser: account.user, adminPassword: account.password, databases: shard.databases)
            }
            try await store.insertSchema(
                DDMSchema(
                    projectID: projectID, instanceID: plan.instanceID, name: schema.name, shardMode: schema.shardMode,
                    shardNumber: schema.shardNumber, parts: parts, createdAt: now))
        }
    }

    /// The backup's metadata document, checked against its recorded SHA-256.
    static func readMetadata(_ backup: DDMBackup, blobs: any BlobStore) async throws -> DDMBackupMetadata {
        guard let key = backup.metadataKey, let reader = try await blobs.open(key: key) else {
            throw DDMError.internalError("The metadata of backup \(backup.id) is missing.")
        }
        defer { reader.close() }
        var bytes: [UInt8] = []
        while true {
            let chunk = try await reader.read(at: Int64(bytes.count), upTo: 1 << 20)
            if chunk.readableBytes == 0 { break }
            bytes += chunk.readableBytesView
        }
        guard Hex.encode(Array(SHA256.hash(data: bytes))) == backup.metadataSHA256 else {
            throw DDMError.internalError("The metadata of backup \(backup.id) does not match its SHA-256.")
        }
        do {
            return try JSONDecoder().decode(DDMBackupMetadata.self, from: Data(bytes))
        } catch {
            throw DDMError.internalError("The metadata of backup \(backup.id) is unreadable.")
        }
    }

    /// The account Coffer uses on each data node of an instance (the first schema's).
    static func accounts(_ schemas: [DDMSchema]) -> [String: (user: String, password: String)] {
        var accounts: [String: (user: String, password: String)] = [:]
        for part in schemas.flatMap(\.parts) where accounts[part.nodeID] == nil { accounts[part.nodeID] = (part.adminUser, part.adminPassword) }
        return accounts
    }

    /// `gtid_binlog_pos` at the cut advanced by the last replayed GTID of each domain.
    static func advance(_ position: String, by last: [UInt32: String]) -> String {
        var byDomain: [UInt32: String] = [:]
        for item in position.split(separator: ",") {
            let text = item.trimmingCharacters(in: .whitespaces)
            if let domain = text.split(separator: "-").first.flatMap({ UInt32($0) }) { byDomain[domain] = text }
        }
        for (domain, gtid) in last { byDomain[domain] = gtid }
        return byDomain.keys.sorted().compactMap { byDomain[$0] }.joined(separator: ",")
    }
}

/// A SHA-256 fed from the loader's source closure.
private final class DigestBox: @unchecked Sendable {
    private var hash = SHA256()
    private let lock = NSLock()

    func update(_ buffer: ByteBuffer) {
        self.lock.withLock { buffer.withUnsafeReadableBytes { self.hash.update(bufferPointer: $0) } }
    }

    func hex() -> String { self.lock.withLock { Hex.encode(Array(self.hash.finalize())) } }
}
