import CofferCore
import Foundation

/// Which DDM instances and data nodes may take a restore (reference 3.5b and 3.5c). Pure: the queries gather what
/// is recorded and these rules decide, so every rule is unit-tested without servers. A reason of nil means
/// available; otherwise the reason is what `unavailable_reason` says, in the reference's wording where it has one.
package enum RestoreTargets {
    /// Reference 3.5b's wording for a target with a task running on it.
    package static let busyReason = "Another action is being performed on the target instance."
    package static let sourceInstanceReason = "The target instance is the source instance."
    package static let notRunningReason = "The target instance is not running."
    package static let missingNodeReason = "The data node is no longer registered."
    package static let sourceNodeReason = "The data node belongs to the source instance."

    /// Whether `candidate` may take a restore of `sourceID`'s backups.
    ///
    /// - The source itself is not a target: restoring into it would overwrite the data nodes whose binary log the
    ///   restore replays (a restore into the source is a different operation Huawei does not offer here either).
    /// - A task on the target (a backup, a delete, another restore) makes it busy, as `restore2_exist` would answer.
    /// - A schema of the target with the name of one of the source's schemas blocks it: the restore gives the target
    ///   the source's schemas, and two logical schemas of one name cannot coexist.
    package static func instanceUnavailableReason(
        candidate: DDMInstance, sourceID: String, activity: Activity?, sourceSchemas: Set<String>, candidateSchemas: Set<String>
    ) -> String? {
        if candidate.id == sourceID { return Self.sourceInstanceReason }
        if candidate.status != "RUNNING" { return Self.notRunningReason }
        if activity != nil { return Self.busyReason }
        let clashing = sourceSchemas.intersection(candidateSchemas).sorted()
        if !clashing.isEmpty { return "The target instance already has the schemas \(clashing.joined(separator: ", "))." }
        return nil
    }

    /// Whether a data node of the target instance may take the data of `source` (one node of the backup a restore
    /// at that time starts from).
    ///
    /// - `node` nil: the target's schema still names it but it is no longer registered, so nothing can reach it.
    /// - A node of the restored backup is never a target: it is being read from (its archive is replayed).
    /// - A different engine (MariaDB vs MySQL) cannot replay the other's binary log, so it is refused up front.
    /// - `heldDatabases` are the physical databases Coffer's schemas (of any instance) keep on the node; any of
    ///   `sourceDatabases` (what the source node held at the cut) among them means the restore would mix data into
    ///   them, which the recovery refuses before touching anything.
    /// - A busy target instance makes every one of its nodes busy.
    package static func dataNodeUnavailableReason(
        node: DataNode?, source: DataNode?, sourceNodeIDs: Set<String>, sourceDatabases: Set<String>, heldDatabases: Set<String>,
        targetBusy: Bool
    ) -> String? {
        guard let node else { return Self.missingNodeReason }
        if sourceNodeIDs.contains(node.id) { return Self.sourceNodeReason }
        if targetBusy { return Self.busyReason }
        if let source, source.engineName.lowercased() != node.engineName.lowercased() {
            return "The data node runs \(node.engineName), the source data node \(source.engineName)."
        }
        let clashing = sourceDatabases.intersection(heldDatabases).sorted()
        if !clashing.isEmpty { return "The data node already holds the databases \(clashing.joined(separator: ", "))." }
        return nil
    }
}
