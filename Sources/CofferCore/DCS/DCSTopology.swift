import Foundation

/// The shape of the Redis deployment a DCS instance adopted, as last read from its servers: a single server, a
/// master/standby pair (a master and its replicas), or a cluster of shards with their hash-slot ranges.
///
/// Re-read before every backup and on show; stored so that list/show can answer without the servers and so that a
/// backup can still find a reachable node when the address the instance was adopted with has gone.
package struct DCSTopology: Sendable, Equatable, Codable {
    /// DCS's instance kinds (`spec_code` says `single`, `ha` or `cluster`).
    package enum Kind: String, Sendable, Codable {
        case single
        case masterStandby = "master_standby"
        case cluster
    }

    package enum Role: String, Sendable, Codable {
        case master, replica
    }

    /// Inclusive range of hash slots.
    package struct SlotRange: Sendable, Equatable, Codable {
        package var start: Int
        package var end: Int

        package init(start: Int, end: Int) {
            self.start = start
            self.end = end
        }

        package func contains(_ slot: Int) -> Bool { (self.start...self.end).contains(slot) }
    }

    package struct Node: Sendable, Equatable, Codable {
        package var host: String
        package var port: Int
        package var role: Role
        /// The servers' view: cluster health `online`, a replica in sync with its master.
        package var healthy: Bool
        /// Whether Coffer itself reached the node when the topology was read.
        package var reachable: Bool

        package init(host: String, port: Int, role: Role, healthy: Bool, reachable: Bool) {
            self.host = host
            self.port = port
            self.role = role
            self.healthy = healthy
            self.reachable = reachable
        }

        /// `host:port` as users write it.
        package var address: String { self.host.contains(":") ? "[\(self.host)]:\(self.port)" : "\(self.host):\(self.port)" }
        /// Healthy in the servers' view and reached by Coffer: a node a snapshot may be taken from.
        package var usable: Bool { self.healthy && self.reachable }
    }

    package struct Shard: Sendable, Equatable, Codable {
        /// Empty outside cluster mode: the shard holds every key.
        package var slots: [SlotRange]
        package var master: Node?
        package var replicas: [Node]

        package init(slots: [SlotRange], master: Node?, replicas: [Node]) {
            self.slots = slots
            self.master = master
            self.replicas = replicas
        }

        package var nodes: [Node] { (self.master.map { [$0] } ?? []) + self.replicas }

        /// Where to take this shard's snapshot, best first: the usable replicas (a backup then costs the master
        /// nothing), then the master if Coffer reached it. Empty when no node can serve one.
        package var snapshotSources: [Node] {
            self.replicas.filter(\.usable) + (self.master.map { $0.reachable ? [$0] : [] } ?? [])
        }

        /// `0-5460`, ranges joined by `,`: the `<slot-range>` of DCS's per-shard file names.
        package var slotLabel: String { DCSTopology.slotLabel(self.slots) }
    }

    package var kind: Kind
    package var shards: [Shard]
    package var readAt: Date

    package init(kind: Kind, shards: [Shard], readAt: Date) {
        self.kind = kind
        self.shards = shards
        self.readAt = readAt
    }

    /// DCS's `replica_count`: the copies of a shard, master included (spec codes `….r2.…` are a master and one
    /// standby), for the shard with the most.
    package var replicaCount: Int { (self.shards.map(\.replicas.count).max() ?? 0) + 1 }

    /// Why the instance cannot be backed up as a whole, or nil: a shard none of whose nodes Coffer reached.
    package var unreachableReason: String? {
        let dead = self.shards.filter { $0.snapshotSources.isEmpty }
        guard !dead.isEmpty else { return nil }
        let names = dead.map { shard in
            let where_ = shard.slots.isEmpty ? "" : " (slots \(shard.slotLabel))"
            return "shard\(where_) with nodes \(shard.nodes.map(\.address).joined(separator: ", "))"
        }
        return "No reachable node in " + names.joined(separator: "; ")
    }

    /// Every node, masters first, for finding one that answers when the adopted address does not.
    package var allNodes: [Node] { self.shards.compactMap(\.master) + self.shards.flatMap(\.replicas) }

    package static func slotLabel(_ slots: [SlotRange]) -> String {
        slots.map { "\($0.start)-\($0.end)" }.joined(separator: ",")
    }
}

/// One shard's file of a backup of a cluster or master/standby instance: which slots it holds, which node it was
/// taken from and where it is stored, so that a restore can route each file's keys and a link can name it as DCS does.
package struct DCSBackupShard: Sendable, Equatable, Codable {
    /// Position in the backup (shards in ascending slot order).
    package var index: Int
    /// Empty for a master/standby instance (every key).
    package var slots: [DCSTopology.SlotRange]
    /// The shard's master when the backup ran: the `<ip>_<port>` of the file's name.
    package var masterHost: String
    package var masterPort: Int
    /// The node the snapshot came from.
    package var sourceHost: String
    package var sourcePort: Int
    package var sourceRole: DCSTopology.Role
    /// Whether an earlier source (a replica) failed and this one took over.
    package var retried: Bool
    package var blobKey: String
    package var size: Int64
    package var sha256: String
    package var keys: Int

    package init(
        index: Int, slots: [DCSTopology.SlotRange], masterHost: String, masterPort: Int, sourceHost: String, sourcePort: Int,
        sourceRole: DCSTopology.Role, retried: Bool, blobKey: String, size: Int64, sha256: String, keys: Int
    ) {
        self.index = index
        self.slots = slots
        self.masterHost = masterHost
        self.masterPort = masterPort
        self.sourceHost = sourceHost
        self.sourcePort = sourcePort
        self.sourceRole = sourceRole
        self.retried = retried
        self.blobKey = blobKey
        self.size = size
        self.sha256 = sha256
        self.keys = keys
    }

    /// DCS's per-shard name: `redis_<ip>_<port>_<slot-range>_<yyyyMMddHHmmss>.rdb` (reference 2.5), without the
    /// slot range for a master/standby instance (one file, the form of a single server's).
    package func fileName(createdAt: Date) -> String {
        let range = self.slots.isEmpty ? "" : "_" + DCSTopology.slotLabel(self.slots)
        return "redis_\(self.masterHost)_\(self.masterPort)\(range)_\(WireTime.compact(createdAt)).rdb"
    }
}
