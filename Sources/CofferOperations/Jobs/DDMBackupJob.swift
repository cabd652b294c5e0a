import CofferCore
import CofferJobs
import CofferMySQL
import Foundation
import Logging
import NIOCore

/// `ddm.backup`: one consistent backup of a DDM instance — a dump of every data node at one instant
/// (`ConsistentDumper`), each streamed compressed into the blob store, plus a metadata document (schemas,
/// shard layout, node mapping, binlog positions). Every file's size and SHA-256 are recorded.
///
/// Not idempotent: a crash mid-dump fails the backup (`createfail`) and removes whatever it had written.
package struct DDMBackupJob: JobHandler {

    let store: any DDMStore
    let blobs: any BlobStore
    let dumper: ConsistentDumper
    let logger: Logger
    let clock: @Sendable () -> Date

    package init(store: any DDMStore, blobs: any BlobStore, dumper: ConsistentDumper, logger: Logger, clock: @escaping @Sendable () -> Date) {
        self.store = store
        self.blobs = blobs
        self.dumper = dumper
        self.logger = logger
        self.clock = clock
    }

    package var kind: String { JobKind.ddmBackup.rawValue }
    package var isIdempotent: Bool { false }

    /// Blob keys are fixed per backup and node, so cleanup after a crash knows them without a record.
    /// `part` numbers the dumps of one node (one per account); the first has no number.
    package static func dumpKey(backupID: String, nodeID: String, part: Int = 0) -> String {
        "ddm/\(backupID)/\(nodeID)" + (part == 0 ? "" : "-\(part)") + ".sql.zst"
    }
    package static func metadataKey(backupID: String) -> String { "ddm/\(backupID)/metadata.json" }

    package func run(_ job: Job) async throws {
        guard let backupID = DDMJobPayload.decode(job.payload)?.backupID,
            var backup = try await self.store.backup(projectID: job.projectID, id: backupID)
        else { throw MySQLError.dumpFailed("the backup record of job \(job.id) is missing") }
        let schemas = try await self.store.schemas(projectID: job.projectID, instanceID: backup.instanceID)
        // One dump per (node, account): the shard databases of every schema that reaches the node with that
        // account. Schemas with their own accounts on a shared node get their own dump, all in the same cut.
        var groups: [DumpGroup] = []
        for schema in schemas {
            for part in schema.parts {
                if let index = groups.firstIndex(where: { $0.nodeID == part.nodeID && $0.user == part.adminUser }) {
                    groups[index].databases += part.databases
                } else {
                    let sameNode = groups.filter { $0.nodeID == part.nodeID }.count
                    groups.append(
                        DumpGroup(
                            nodeID: part.nodeID, part: sameNode, user: part.adminUser, password: part.adminPassword,
                            databases: part.databases))
                }
            }
        }
        var nodes: [String: DataNode] = [:]
        for group in groups where nodes[group.nodeID] == nil {
            guard let node = try await self.store.dataNode(projectID: job.projectID, id: group.nodeID) else {
                throw MySQLError.dumpFailed("data node \(group.nodeID) is no longer registered")
            }
            nodes[group.nodeID] = node
        }
        var writers: [any BlobWriter] = []
        var committed: [String] = []
        do {
            var targets: [DumpTarget] = []
            for group in groups {
                let node = nodes[group.nodeID]!
                let writer = try await self.blobs.makeWriter(key: Self.dumpKey(backupID: backup.id, nodeID: node.id, part: group.part))
                writers.append(writer)
                targets.append(
                    DumpTarget(
                        name: node.id, endpoint: MySQLEndpoint(host: node.host, port: node.port, user: group.user, password: group.password),
                        databases: group.databases, sink: BlobDumpSink(writer: writer)))
            }
            let outcomes = targets.isEmpty ? [] : try await self.dumper.dump(targets)
            var files: [DDMBackup.File] = []
            for (index, writer) in writers.enumerated() {
                let info = try await writer.commit()
                committed.append(info.key)
                let group = groups[index]
                let node = nodes[group.nodeID]!
                let outcome = outcomes[index]
                files.append(
                    DDMBackup.File(
                        nodeID: node.id, nodeName: node.name, blobKey: info.key, size: info.size, sha256: info.sha256,
                        databases: group.databases, binlogFile: outcome.binlogFile, binlogPosition: outcome.binlogPosition,
                        gtidPosition: outcome.gtidPosition))
            }
            writers.removeAll()
            backup.cutAt = outcomes.first?.cutAt
            let metadata = try Self.metadata(
                backup: backup, schemas: schemas, nodes: groups.map(\.nodeID).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
                    .compactMap { nodes[$0] }, files: files)
            let metadataWriter = try await self.blobs.makeWriter(key: Self.metadataKey(backupID: backup.id))
            writers.append(metadataWriter)
            try await metadataWriter.write(contentsOf: metadata)
            let metadataInfo = try await metadataWriter.commit()
            committed.append(metadataInfo.key)
            writers.removeAll()
            backup.files = files
            backup.metadataKey = metadataInfo.key
            backup.metadataSHA256 = metadataInfo.sha256
            backup.size = files.reduce(metadataInfo.size) { $0 + $1.size }
            backup.status = .normal
            // The consistent point is when the locks were held, not when the request came in (`createdAt`).
            backup.cutAt = outcomes.first?.cutAt
            backup.updatedAt = self.clock()
            // Only a backup still `creating`: the recovery of this job's expired lease (a node stalled past it) may have
            // failed it meanwhile, and that outcome stands; the files committed here go in the catch below.
            guard try await self.store.updateBackup(backup, ifStatusIn: [.creating]) else { throw Superseded() }
            self.logger.info(
                "DDM backup finished",
                metadata: [
                    "ddm.backup.id": "\(backup.id)", "ddm.backup.bytes": "\(backup.size)",
                    "ddm.lock_ms": "\(outcomes.map(\.lockHeld.milliseconds).max() ?? 0)",
                ])
        } catch {
            for writer in writers { await writer.abort() }
            // Unless the record says `normal` after all (its write committed and the answer was lost): then they are
            // the backup. Unreadable, they stay: an object without a record beats a record without its objects.
            if !committed.isEmpty, let stored = try? await self.store.backup(projectID: backup.projectID, id: backup.id), stored.status != .normal {
                for key in committed { try? await self.blobs.delete(key: key) }
            }
            throw error
        }
    }

    /// The recovery of this job's expired lease failed the backup while the job still ran.
    struct Superseded: Error, CustomStringConvertible {
        var description: String { "the backup was failed by the recovery of this job's expired lease" }
    }

    /// Marks the backup `createfail` and removes every file it may have written (also after a crash, when
    /// nothing in memory remembers them: the keys are derived from the backup and its instance's nodes).
    package func jobFailed(_ job: Job, reason: String) async {
        guard let backupID = DDMJobPayload.decode(job.payload)?.backupID,
            var backup = try? await self.store.backup(projectID: job.projectID, id: backupID), backup.status == .creating
        else { return }
        let files = backup.files
        backup.status = .createfail
        backup.files = []
        backup.size = 0
        backup.metadataKey = nil
        backup.metadataSHA256 = nil
        backup.error = String(reason.prefix(2000))
        backup.updatedAt = self.clock()
        // The record first, and only if it is still `creating`: a job whose lease expired may be alive and finish
        // meanwhile; its `normal` is a compare-and-set too, so exactly one side decides (and removes what it must).
        guard (try? await self.store.updateBackup(backup, ifStatusIn: [.creating])) == true else { return }
        let schemas = (try? await self.store.schemas(projectID: job.projectID, instanceID: backup.instanceID)) ?? []
        let nodeIDs = Set(schemas.flatMap { $0.parts.map(\.nodeID) } + files.map(\.nodeID))
        for id in nodeIDs {
            for part in 0..<max(1, schemas.count) { try? await self.blobs.delete(key: Self.dumpKey(backupID: backup.id, nodeID: id, part: part)) }
        }
        try? await self.blobs.delete(key: Self.metadataKey(backupID: backup.id))
        self.logger.error("DDM backup failed", metadata: ["ddm.backup.id": "\(backup.id)", "error": "\(reason)"])
    }

    /// The metadata document stored beside the dumps: enough to rebuild the instance's schemas on new nodes.
    static func metadata(backup: DDMBackup, schemas: [DDMSchema], nodes: [DataNode], files: [DDMBackup.File]) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return try encoder.encode(DDMBackupMetadata(backup: backup, schemas: schemas, nodes: nodes, files: files))
    }
}

/// The dump of one node with one account.
struct DumpGroup {
    var nodeID: String
    /// 0 for the node's first account, 1 for its second …
    var part: Int
    var user: String
    var password: String
    var databases: [String]
}

/// Hands the dump engine's compressed chunks to a blob writer (which hashes and counts them).
struct BlobDumpSink: DumpSink {
    let writer: any BlobWriter

    func write(_ bytes: ByteBuffer) async throws { try await self.writer.write(bytes) }
}
