import CofferCore
import Foundation
import Logging

/// Archived binlogs follow the backups' retention: a node's archive is only useful from its oldest retained backup
/// cut onward (a replay starts at a cut), so whole files before that cut's file are deleted with the backup that
/// was holding them. A node with no retained backup keeps its archive (a later backup may still need nothing of it,
/// but nothing proves that; deleting is left to an explicit decision).
package struct BinlogRetention: Sendable {
    let ddm: any DDMStore
    let archive: any BinlogArchiveStore
    let blobs: any BlobStore
    let logger: Logger

    package init(ddm: any DDMStore, archive: any BinlogArchiveStore, blobs: any BlobStore, logger: Logger) {
        self.ddm = ddm
        self.archive = archive
        self.blobs = blobs
        self.logger = logger
    }

    /// Deletes the segments of `nodeIDs` whose file precedes the oldest retained (`normal`) backup cut of that node
    /// in the project. Returns how many segments it removed.
    @discardableResult
    package func prune(projectID: String, nodeIDs: [String]) async throws -> Int {
        var oldestCut: [String: String] = [:]  // node → binlog file of its oldest retained cut
        var offset = 0
        while true {
            let page = try await self.ddm.backups(DDMBackupQuery(projectID: projectID, status: .normal, offset: offset, limit: 200))
            // Newest first: later pages (and later items) overwrite with older cuts.
            for backup in page.items {
                for file in backup.files where nodeIDs.contains(file.nodeID) && !file.binlogFile.isEmpty {
                    oldestCut[file.nodeID] = file.binlogFile
                }
            }
            offset += page.items.count
            if page.items.isEmpty || offset >= page.total { break }
        }
        var removed = 0
        for (node, cutFile) in oldestCut {
            let obsolete = try await self.archive.segments(nodeID: node).filter { $0.file < cutFile }
            guard !obsolete.isEmpty else { continue }
            // Records first: a crash in between leaves unreferenced blobs (swept later), never records without files.
            try await self.archive.deleteSegments(nodeID: node, blobKeys: obsolete.map(\.blobKey))
            for segment in obsolete { try await self.blobs.delete(key: segment.blobKey) }
            removed += obsolete.count
            self.logger.info(
                "Archived binlogs before the oldest retained backup removed", metadata: ["ddm.node.id": "\(node)", "before": "\(cutFile)", "segments": "\(obsolete.count)"])
        }
        return removed
    }
}
