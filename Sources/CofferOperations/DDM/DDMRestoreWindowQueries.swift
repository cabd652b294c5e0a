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
        return RestorableWindows.compute(cuts: cuts, archives: archives)
    }
}
