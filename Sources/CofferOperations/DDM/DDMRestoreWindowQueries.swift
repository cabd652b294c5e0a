import CofferCore
import Foundation

/// `GET …/backups/restorable-time-interval` (reference 3.5d): reads the instance's `normal` backups and its
/// nodes' archives, and leaves the rules to `RestorableWindows`.
package struct DDMRestoreWindowQueries: Sendable {
    let store: any DDMStore
    /// Nil when binlog archiving is not configured: then every node reaches only its backup cuts.
    let archive: (any BinlogArchiveStore)?
    let instances: DDMInstanceOperations

    package init(store: any DDMStore, archive: (any BinlogArchiveStore)?, instances: DDMInstanceOperations) {
        self.store = store
        self.archive = archive
        self.instances = instances
    }

    /// The restorable windows of a visible instance, oldest first; 404 `DBS.200002` for an unknown instance or
    /// another project's.
    ///
    /// A backup's cut instant is its consistent point (`cutInstant`), the same instant `related-dn` and a recovery
    /// compare `restore_time` with, so every answer picks the same backup for the same time.
    package func windows(projectID: String, instanceID: String) async throws -> [DateInterval] {
        let instance = try await self.instances.instance(projectID: projectID, id: instanceID)
        let recorded = try await self.recorded(instance)
        return RestorableWindows.compute(cuts: recorded.cuts, archives: recorded.archives)
    }

    /// What a restore of the instance at `time` would use (reference 3.5a): the backup it starts from (nil when
    /// `time` is outside every window), that backup's nodes as registered now, and the newest restorable instant
    /// (the end of the last window; nil without any window).
    package func relatedDataNodes(projectID: String, instanceID: String, at time: Date) async throws -> RelatedDataNodes {
        let instance = try await self.instances.instance(projectID: projectID, id: instanceID)
        let recorded = try await self.recorded(instance)
        let latest = RestorableWindows.compute(cuts: recorded.cuts, archives: recorded.archives).last?.end
        guard let index = RestorableWindows.restoringCut(at: time, cuts: recorded.cuts, archives: recorded.archives) else {
            return RelatedDataNodes(backup: nil, nodes: [:], latest: latest)
        }
        let backup = recorded.backups[index]
        let nodes = try await self.store.dataNodes(projectID: instance.projectID, ids: backup.relatedNodes.map(\.id))
        return RelatedDataNodes(backup: backup, nodes: nodes, latest: latest)
    }

    /// The backup a restore of `instance` at `time` starts from (the one `related-dn` names), nil when `time` is
    /// outside every window. A recovery asks here, so the endpoints and the job never pick different backups.
    package func restoringBackup(of instance: DDMInstance, at time: Date) async throws -> DDMBackup? {
        let recorded = try await self.recorded(instance)
        return RestorableWindows.restoringCut(at: time, cuts: recorded.cuts, archives: recorded.archives).map { recorded.backups[$0] }
    }

    /// Reference 3.5b: every DDM instance of the source's project, oldest first, each with why it cannot take a
    /// restore of `instanceID` (nil: it can). Another project's instances are never read.
    package func restorableInstances(
        projectID: String, instanceID: String
    ) async throws -> [(instance: DDMInstance, activity: Activity?, reason: String?)] {
        let source = try await self.instances.instance(projectID: projectID, id: instanceID)
        var all: [DDMInstance] = []
        let pageSize = 500
        while true {
            let page = try await self.store.instances(projectID: source.projectID, offset: all.count, limit: pageSize)
            all += page.items
            if page.items.count < pageSize || all.count >= page.total { break }
        }
        let activities = try await self.instances.context.activity.activities(projectID: source.projectID, resourceIDs: all.map(\.id))
        let sourceSchemas = Set(try await self.store.schemas(projectID: source.projectID, instanceID: source.id).map(\.name))
        var result: [(instance: DDMInstance, activity: Activity?, reason: String?)] = []
        for candidate in all {
            let schemas = candidate.id == source.id ? [] : try await self.store.schemas(projectID: source.projectID, instanceID: candidate.id)
            let reason = RestoreTargets.instanceUnavailableReason(
                candidate: candidate, sourceID: source.id, activity: activities[candidate.id], sourceSchemas: sourceSchemas,
                candidateSchemas: Set(schemas.map(\.name)))
            result.append((candidate, activities[candidate.id], reason))
        }
        return result
    }

    /// Reference 3.5c: the data nodes of `targetInstanceID` (those its schemas use, in first-use order), each with
    /// why it cannot take the data `sourceNodeID` held at `time` (nil: it can), and the target instance.
    /// - Throws: 404 `DBS.200002` for an unknown source or target (also another project's); 400 `DBS.280001` when
    ///   `time` is outside every window or `sourceNodeID` is not a node of the backup a restore at `time` uses.
    package func restorableDataNodes(
        projectID: String, instanceID: String, targetInstanceID: String, sourceNodeID: String, at time: Date
    ) async throws -> (target: DDMInstance, nodes: [(nodeID: String, node: DataNode?, reason: String?)]) {
        let source = try await self.instances.instance(projectID: projectID, id: instanceID)
        let target = try await self.instances.instance(projectID: projectID, id: targetInstanceID)
        let recorded = try await self.recorded(source)
        guard let index = RestorableWindows.restoringCut(at: time, cuts: recorded.cuts, archives: recorded.archives) else {
            throw DDMError.invalidParameter("restore_time", "Outside every restorable window (see restorable-time-interval).")
        }
        let backup = recorded.backups[index]
        guard backup.relatedNodes.contains(where: { $0.id == sourceNodeID }) else {
            throw DDMError.invalidParameter("source_dn_instance_id", "Not a data node of the backup a restore at restore_time uses.")
        }
        let sourceDatabases = Set(backup.files.filter { $0.nodeID == sourceNodeID }.flatMap(\.databases))
        let targetSchemas = try await self.store.schemas(projectID: target.projectID, instanceID: target.id)
        var nodeIDs: [String] = []
        for part in targetSchemas.flatMap(\.parts) where !nodeIDs.contains(part.nodeID) { nodeIDs.append(part.nodeID) }
        let held = try await self.heldDatabases(projectID: target.projectID, nodeIDs: Set(nodeIDs))
        let nodes = try await self.store.dataNodes(projectID: target.projectID, ids: nodeIDs + [sourceNodeID])
        let busy = try await self.instances.context.activity.activity(projectID: target.projectID, resourceID: target.id) != nil
        let sourceNodeIDs = Set(backup.relatedNodes.map(\.id))
        let judged = nodeIDs.map { id in
            (
                nodeID: id, node: nodes[id],
                reason: RestoreTargets.dataNodeUnavailableReason(
                    node: nodes[id], source: nodes[sourceNodeID], sourceNodeIDs: sourceNodeIDs, sourceDatabases: sourceDatabases,
                    heldDatabases: held[id] ?? [], targetBusy: busy)
            )
        }
        return (target, judged)
    }

    /// The physical databases Coffer's schemas keep on each of `nodeIDs`, over every instance of the project (a
    /// node can serve several instances).
    private func heldDatabases(projectID: String, nodeIDs: Set<String>) async throws -> [String: Set<String>] {
        var held: [String: Set<String>] = [:]
        var offset = 0
        let pageSize = 500
        while true {
            let page = try await self.store.instances(projectID: projectID, offset: offset, limit: pageSize)
            for instance in page.items {
                for schema in try await self.store.schemas(projectID: projectID, instanceID: instance.id) {
                    for part in schema.parts where nodeIDs.contains(part.nodeID) { held[part.nodeID, default: []].formUnion(part.databases) }
                }
            }
            offset += page.items.count
            if page.items.count < pageSize || offset >= page.total { break }
        }
        return held
    }

    /// The instance's `normal` backups, newest first, their cuts (same order) and their nodes' archives.
    private func recorded(_ instance: DDMInstance) async throws -> Recorded {
        var backups: [DDMBackup] = []
        let pageSize = 500
        while true {
            let page = try await self.store.backups(
                DDMBackupQuery(projectID: instance.projectID, instanceID: instance.id, status: .normal, offset: backups.count, limit: pageSize))
            backups += page.items
            if page.items.count < pageSize || backups.count >= page.total { break }
        }
        var cuts: [RestorableWindows.Cut] = []
        var nodeIDs: Set<String> = []
        for backup in backups {
            var nodes: [String: BinlogCursor] = [:]
            // Several files of one node (one per account) come from the same lock: the first one's coordinates hold.
            for file in backup.files where nodes[file.nodeID] == nil {
                nodes[file.nodeID] = BinlogCursor(file: file.binlogFile, position: file.binlogPosition)
            }
            nodeIDs.formUnion(nodes.keys)
            cuts.append(RestorableWindows.Cut(at: backup.cutInstant, nodes: nodes))
        }
        var archives: [String: RestorableWindows.NodeArchive] = [:]
        if let archive = self.archive {
            for nodeID in nodeIDs.sorted() {
                archives[nodeID] = RestorableWindows.NodeArchive(
                    segments: try await archive.segments(nodeID: nodeID), gaps: try await archive.gaps(nodeID: nodeID))
            }
        }
        return Recorded(backups: backups, cuts: cuts, archives: archives)
    }

    private struct Recorded {
        var backups: [DDMBackup]
        var cuts: [RestorableWindows.Cut]
        var archives: [String: RestorableWindows.NodeArchive]
    }
}

/// The answer of `related-dn`: see `DDMRestoreWindowQueries.relatedDataNodes`.
package struct RelatedDataNodes: Sendable {
    package var backup: DDMBackup?
    package var nodes: [String: DataNode]
    package var latest: Date?
}
