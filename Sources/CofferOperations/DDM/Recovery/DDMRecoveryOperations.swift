import CofferCore
import Foundation
import Logging

/// `POST /v3/{project_id}/instances/{instance_id}/backups/recovery` (reference 3.6): validates everything before
/// anything is touched, then queues one `ddm.restore` job on the **target** instance (so the target shows `RESTORE`
/// and a second recovery or a backup meanwhile gets the busy code).
package struct DDMRecoveryOperations: Sendable {
    /// What the request asks, once parsed.
    package struct Request: Sendable {
        package var restoreTime: Int64
        package var sourceInstanceID: String?
        package var targetInstanceID: String
        package var relations: [(source: String, target: String)]

        package init(restoreTime: Int64, sourceInstanceID: String?, targetInstanceID: String, relations: [(source: String, target: String)]) {
            self.restoreTime = restoreTime
            self.sourceInstanceID = sourceInstanceID
            self.targetInstanceID = targetInstanceID
            self.relations = relations
        }
    }

    let store: any DDMStore
    let archive: (any BinlogArchiveStore)?
    let blobs: any BlobStore
    let instances: DDMInstanceOperations
    let inspector: MySQLInspector
    let context: OperationContext

    package init(
        store: any DDMStore, archive: (any BinlogArchiveStore)?, blobs: any BlobStore, instances: DDMInstanceOperations, inspector: MySQLInspector,
        context: OperationContext
    ) {
        self.store = store
        self.archive = archive
        self.blobs = blobs
        self.instances = instances
        self.inspector = inspector
        self.context = context
    }

    /// Validates and queues the recovery.
    /// - Throws: 404 `DBS.200002` (unknown source), 400 `DBS.280001` (source mismatch, `restore_time` in no window),
    ///   `DBS.300372` (bad target instance), `DBS.300103` (relations), `DBS.300112` (target already holds a schema
    ///   or shard database of the source), `DBS.300114`/`DBS.280001` (target node refused or unreachable),
    ///   409 `DBS.200019` (a task runs on the target).
    package func recover(projectID: String, instanceID: String, _ request: Request, logger: Logger) async throws -> Job {
        let source = try await self.instances.instance(projectID: projectID, id: instanceID)
        if let named = request.sourceInstanceID, named != source.id {
            throw DDMError.invalidParameter("source.instance_id", "It must name the instance of the path.")
        }
        guard Identifiers.isDDM(request.targetInstanceID, suffix: "in09"),
            let target = try await self.store.instance(projectID: projectID, id: request.targetInstanceID)
        else { throw DDMError.invalidTargetInstance("No DDM instance \(request.targetInstanceID) in the project.") }
        guard target.id != source.id else { throw DDMError.invalidTargetInstance("The target instance is the source instance.") }

        let (backup, point) = try await self.backup(for: request.restoreTime, source: source)
        let metadata = try await DDMRecoveryJob.readMetadata(backup, blobs: self.blobs)

        // Relations: a bijection from the backup's nodes onto data nodes of the target instance.
        let sourceNodes = backup.files.reduce(into: [String]()) { if !$0.contains($1.nodeID) { $0.append($1.nodeID) } }
        guard !request.relations.isEmpty else { throw DDMError.invalidParameter("data_node_relations", "At least one relation is needed.") }
        let targetSchemas = try await self.store.schemas(projectID: projectID, instanceID: target.id)
        let accounts = DDMRecoveryJob.accounts(targetSchemas)
        var seenSources: Set<String> = []
        var seenTargets: Set<String> = []
        for relation in request.relations {
            guard sourceNodes.contains(relation.source) else {
                throw DDMError.invalidRelation("\(relation.source) is not a data node of the source instance's backup at restore_time.")
            }
            guard accounts[relation.target] != nil else {
                throw DDMError.invalidRelation("\(relation.target) is not a data node of the target instance (no schema of it uses the node).")
            }
            guard seenSources.insert(relation.source).inserted, seenTargets.insert(relation.target).inserted else {
                throw DDMError.duplicateDataNodes
            }
        }
        if let missing = sourceNodes.first(where: { !seenSources.contains($0) }) {
            throw DDMError.invalidRelation("source data node \(missing) has no target in data_node_relations.")
        }

        // Nothing is overwritten: no schema of the target has a source schema's name, no target node holds one of
        // the shard databases it would receive.
        let targetNames = Set(targetSchemas.map(\.name))
        if let clash = metadata.schemas.first(where: { targetNames.contains($0.name) }) {
            throw DDMError.targetHoldsData("The target instance already has a schema named \(clash.name).")
        }
        let nodes = try await self.store.dataNodes(projectID: projectID, ids: Array(seenTargets))
        for relation in request.relations {
            guard let node = nodes[relation.target], let account = accounts[relation.target] else {
                throw DDMError.invalidRelation("\(relation.target) is no longer registered.")
            }
            let databases = backup.files.filter { $0.nodeID == relation.source }.flatMap(\.databases)
            let held = try await self.inspector.existingDatabases(databases, on: node, user: account.user, password: account.password)
            if !held.isEmpty {
                throw DDMError.targetHoldsData("Target data node \(node.id) already holds \(held.sorted().joined(separator: ", ")).")
            }
        }

        let plan = DDMRecoveryPlan(
            instanceID: target.id, instanceName: target.name, sourceInstanceID: source.id, backupID: backup.id, restoreTime: request.restoreTime,
            point: point, relations: request.relations.map { .init(source: $0.source, target: $0.target) })
        let job = Job.new(
            kind: JobKind.ddmRestore.rawValue, projectID: projectID, resourceID: target.id, payload: plan.json,
            maxAttempts: DDMRecoveryJob.maxAttempts, now: self.context.clock())
        if case .busy = try await self.context.jobs.enqueueIfIdle(job) { throw DDMError.busy }
        self.context.wakeWorker()
        logger.info(
            "DDM recovery queued",
            metadata: [
                "ddm.instance.id": "\(source.id)", "ddm.target.id": "\(target.id)", "ddm.backup.id": "\(backup.id)", "job.id": "\(job.id)",
                "ddm.restore.point": "\(point.rawValue)",
            ])
        return job
    }

    /// `POST …/backups/metadata-recovery` (reference 3.7): the backup named by `backupID`, or the newest one cut at or
    /// before `restoreTime`, gives its schemas to the target instance; the backup's data nodes map in order onto
    /// `dataNodes`, which must be data nodes of the target instance that already hold every shard database they get.
    /// - Throws: 400 `DBS.280001` (neither or both of backup_id/restore_time, no backup at that time, node count),
    ///   404 `DBS.200003` (backup), `DBS.300372`, `DBS.300103`, `DBS.300112`, `DBS.300336`, 409 `DBS.200019`.
    package func recoverMetadata(
        projectID: String, instanceID: String, backupID: String?, restoreTime: Int64?, targetInstanceID: String, dataNodes: [String],
        logger: Logger
    ) async throws -> Job {
        let source = try await self.instances.instance(projectID: projectID, id: instanceID)
        guard (backupID == nil) != (restoreTime == nil) else {
            throw DDMError.invalidParameter("source", "Exactly one of backup_id and restore_time is needed.")
        }
        guard Identifiers.isDDM(targetInstanceID, suffix: "in09"), let target = try await self.store.instance(projectID: projectID, id: targetInstanceID)
        else { throw DDMError.invalidTargetInstance("No DDM instance \(targetInstanceID) in the project.") }
        guard target.id != source.id else { throw DDMError.invalidTargetInstance("The target instance is the source instance.") }
        let backup: DDMBackup
        if let backupID {
            guard Identifiers.isDDM(backupID, suffix: "br09"), let found = try await self.store.backup(projectID: projectID, id: backupID),
                found.instanceID == source.id, found.status == .normal
            else { throw DDMError.backupNotFound }
            backup = found
        } else {
            let at = WireTime.date(epochMilliseconds: restoreTime ?? 0)
            let page = try await self.store.backups(
                DDMBackupQuery(projectID: projectID, instanceID: source.id, createdBefore: at, status: .normal, offset: 0, limit: 100))
            guard let newest = page.items.max(by: { $0.cutInstant < $1.cutInstant }) else {
                throw DDMError.restoreTimeOutOfRange("No backup of instance \(source.id) was taken at or before it.")
            }
            backup = newest
        }
        let metadata = try await DDMRecoveryJob.readMetadata(backup, blobs: self.blobs)
        let sourceNodes = backup.files.reduce(into: [String]()) { if !$0.contains($1.nodeID) { $0.append($1.nodeID) } }
        guard dataNodes.count == sourceNodes.count else {
            throw DDMError.invalidParameter("target.data_nodes", "The backup covers \(sourceNodes.count) data nodes; give as many, in its order.")
        }
        guard Set(dataNodes).count == dataNodes.count else { throw DDMError.duplicateDataNodes }
        let targetSchemas = try await self.store.schemas(projectID: projectID, instanceID: target.id)
        let accounts = DDMRecoveryJob.accounts(targetSchemas)
        if let clash = metadata.schemas.first(where: { Set(targetSchemas.map(\.name)).contains($0.name) }) {
            throw DDMError.targetHoldsData("The target instance already has a schema named \(clash.name).")
        }
        let nodes = try await self.store.dataNodes(projectID: projectID, ids: dataNodes)
        for (sourceNode, targetNode) in zip(sourceNodes, dataNodes) {
            guard let node = nodes[targetNode], let account = accounts[targetNode] else {
                throw DDMError.invalidRelation("\(targetNode) is not a data node of the target instance (no schema of it uses the node).")
            }
            let expected = backup.files.filter { $0.nodeID == sourceNode }.flatMap(\.databases)
            let held = Set(try await self.inspector.existingDatabases(expected, on: node, user: account.user, password: account.password))
            if let missing = expected.first(where: { !held.contains($0) }) {
                throw DDMError.physicalDatabaseMissing("Target data node \(node.id) does not hold \(missing).")
            }
        }
        let plan = DDMRecoveryPlan(
            instanceID: target.id, instanceName: target.name, sourceInstanceID: source.id, backupID: backup.id,
            restoreTime: restoreTime ?? WireTime.epochMilliseconds(backup.cutInstant), point: .consistent,
            relations: zip(sourceNodes, dataNodes).map { .init(source: $0, target: $1) })
        let job = Job.new(
            kind: JobKind.ddmMetadataRestore.rawValue, projectID: projectID, resourceID: target.id, payload: plan.json, maxAttempts: 3,
            now: self.context.clock())
        if case .busy = try await self.context.jobs.enqueueIfIdle(job) { throw DDMError.busy }
        self.context.wakeWorker()
        logger.info(
            "DDM metadata recovery queued",
            metadata: ["ddm.instance.id": "\(source.id)", "ddm.target.id": "\(target.id)", "ddm.backup.id": "\(backup.id)", "job.id": "\(job.id)"])
        return job
    }

    /// The backup a restore at `restoreTime` starts from, as `related-dn` names it (``DDMRestoreWindowQueries/
    /// restoringBackup(of:at:)``: the newest `normal` backup whose own window holds the time), and the kind of point:
    /// `restoreTime` equal to its cut (to the ms) is a consistent point.
    /// - Throws: 400 `DBS.280001` when no window holds it.
    func backup(for restoreTime: Int64, source: DDMInstance) async throws -> (DDMBackup, DDMRecoveryPlan.Point) {
        let windows = DDMRestoreWindowQueries(store: self.store, archive: self.archive, instances: self.instances)
        if let backup = try await windows.restoringBackup(of: source, at: WireTime.date(epochMilliseconds: restoreTime)) {
            return (backup, WireTime.epochMilliseconds(backup.cutInstant) == restoreTime ? .consistent : .pointInTime)
        }
        throw DDMError.restoreTimeOutOfRange(
            "\(restoreTime) is not inside a restorable time interval of instance \(source.id) (see restorable-time-interval).")
    }
}
