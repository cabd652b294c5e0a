import CofferCore
import Foundation

/// The payload of a `ddm.restore` job: everything the request validated, so the job redoes no choice. It carries
/// `instance_id`/`instance_name` of the **target** (the job's resource), which the DDM job views read through
/// `DDMJobPayload`.
package struct DDMRecoveryPlan: Codable, Sendable, Equatable {
    package struct Relation: Codable, Sendable, Equatable {
        package var source: String
        package var target: String
    }

    /// Which kind of point the restore reaches.
    package enum Point: String, Codable, Sendable {
        /// `restore_time` is a backup's consistent point: that cut is loaded, no replay; transaction-consistent
        /// across every node.
        case consistent
        /// Per-node point in time: the cut before it plus each node's binlog up to the whole second of
        /// `restore_time`; not a cross-node consistent cut (reference restore.md §9).
        case pointInTime = "point_in_time"
    }

    package var instanceID: String
    package var instanceName: String
    package var sourceInstanceID: String
    package var backupID: String
    package var restoreTime: Int64
    package var point: Point
    package var relations: [Relation]

    enum CodingKeys: String, CodingKey {
        case relations, point
        case instanceID = "instance_id"
        case instanceName = "instance_name"
        case sourceInstanceID = "source_instance_id"
        case backupID = "backup_id"
        case restoreTime = "restore_time"
    }

    package var json: String { (try? String(decoding: JSONEncoder().encode(self), as: UTF8.self)) ?? "{}" }

    package static func decode(_ text: String) -> DDMRecoveryPlan? {
        try? JSONDecoder().decode(DDMRecoveryPlan.self, from: Data(text.utf8))
    }
}

/// What a finished (or failing) recovery reached, stored as the job's result and shown with the job.
package struct DDMRecoveryResult: Codable, Sendable, Equatable {
    package struct Node: Codable, Sendable, Equatable {
        package var source: String
        package var target: String
        /// `gtid_slave_pos` set on the target (the cut's GTID position advanced by the replay), "" when unknown.
        package var gtidPosition: String
        /// Transactions replayed from the archive.
        package var replayedTransactions: Int
        /// Header time of the last replayed transaction, epoch ms (whole seconds), nil when none was replayed.
        package var lastReplayedAt: Int64?
        /// What needed saying: XA branches rolled back, `gtid_slave_pos` not settable …
        package var notes: [String]

        enum CodingKeys: String, CodingKey {
            case source, target, notes
            case gtidPosition = "gtid_position"
            case replayedTransactions = "replayed_transactions"
            case lastReplayedAt = "last_replayed_at"
        }
    }

    package var point: DDMRecoveryPlan.Point
    package var backupID: String
    /// The backup's consistent point, epoch ms.
    package var cutAt: Int64
    package var restoreTime: Int64
    package var nodes: [Node]

    enum CodingKeys: String, CodingKey {
        case point, nodes
        case backupID = "backup_id"
        case cutAt = "cut_at"
        case restoreTime = "restore_time"
    }

    package var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? String(decoding: encoder.encode(self), as: UTF8.self)) ?? "{}"
    }
}
