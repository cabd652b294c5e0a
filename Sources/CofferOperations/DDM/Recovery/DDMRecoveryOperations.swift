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

    /// The newest `normal` backup whose own window (its cut up to what its nodes' archives reach from it) holds
    /// `restoreTime`, and the kind of point: `restoreTime` equal to the cut (to the ms) is a consistent point.
    /// - Throws: 400 `DBS.280001` when no window holds it.
    func backup(for restoreTime: Int64, source: DDMInstance) async throws -> (DDMBackup, DDMRecoveryPlan.Point) {
        let at = WireTime.date(epochMilliseconds: restoreTime)
        var offset = 0
        while true {
            let page = try await self.store.backups(
                DDMBackupQuery(
                    projectID: source.projectID, instanceID: source.id, createdBefore: at, status: .normal, offset: offset, limit: 100))
            let candidates = page.items.sorted { $0.cutInstant > $1.cutInstant }
            for backup in candidates {
                let cut = WireTime.epochMilliseconds(backup.cutInstant)
                guard cut <= restoreTime else { continue }
                if cut == restoreTime { return (backup, .consistent) }
                var nodes: [String: BinlogCursor] = [:]
                for file in backup.files where nodes[file.nodeID] == nil {
                    nodes[file.nodeID] = BinlogCursor(file: file.binlogFile, position: file.binlogPosition)
                }
                var archives: [String: RestorableWindows.NodeArchive] = [:]
                if let archive = self.archive {
                    for nodeID in nodes.keys {
                        archives[nodeID] = .init(segments: try await archive.segments(nodeID: nodeID), gaps: try await archive.gaps(nodeID: nodeID))
                    }
                }
                let windows = RestorableWindows.compute(cuts: [RestorableWindows.Cut(at: backup.cutInstant, nodes: nodes)], archives: archives)
                if windows.contains(where: { WireTime.epochMilliseconds($0.start) <= restoreTime && restoreTime <= WireTime.epochMilliseconds($0.end) }) {
                    return (backup, .pointInTime)
                }
            }
            offset += page.items.count
            if page.items.isEmpty || offset >= page.total { break }
        }
        throw DDMError.restoreTimeOutOfRange(
            "\(restoreTime) is not inside a restorable time interval of instance \(source.id) (see restorable-time-interval).")
    }
}
