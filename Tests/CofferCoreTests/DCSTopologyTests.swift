import CofferCore
import Foundation
import Testing

@Suite("DCS topology")
struct DCSTopologyTests {
    static func node(_ port: Int, _ role: DCSTopology.Role, healthy: Bool = true, reachable: Bool = true) -> DCSTopology.Node {
        DCSTopology.Node(host: "10.0.0.1", port: port, role: role, healthy: healthy, reachable: reachable)
    }

    @Test("Snapshot sources: usable replicas first, then the master if reached; a loading or unreached replica never")
    func sources() {
        let shard = DCSTopology.Shard(
            slots: [.init(start: 0, end: 5460)], master: Self.node(1, .master),
            replicas: [Self.node(2, .replica, healthy: false), Self.node(3, .replica, reachable: false), Self.node(4, .replica)])
        #expect(shard.snapshotSources.map(\.port) == [4, 1])
        var lost = shard
        lost.master?.reachable = false
        lost.replicas[2].healthy = false
        #expect(lost.snapshotSources.isEmpty)
        // A master the cluster calls failed but that Coffer reaches still serves (its data is the shard's newest).
        var stale = shard
        stale.replicas = []
        stale.master?.healthy = false
        #expect(stale.snapshotSources.map(\.port) == [1])
    }

    @Test("A shard without a reachable node makes the reason; replica_count counts the master too")
    func reasonAndCounts() {
        let ok = DCSTopology.Shard(slots: [.init(start: 0, end: 8191)], master: Self.node(1, .master), replicas: [Self.node(2, .replica)])
        let dead = DCSTopology.Shard(
            slots: [.init(start: 8192, end: 9000), .init(start: 9001, end: 16383)], master: Self.node(3, .master, reachable: false),
            replicas: [Self.node(4, .replica, reachable: false)])
        let topology = DCSTopology(kind: .cluster, shards: [ok, dead], readAt: Date())
        #expect(topology.unreachableReason == "No reachable node in shard (slots 8192-9000,9001-16383) with nodes 10.0.0.1:3, 10.0.0.1:4")
        #expect(DCSTopology(kind: .cluster, shards: [ok], readAt: Date()).unreachableReason == nil)
        #expect(topology.replicaCount == 2)
        #expect(DCSTopology(kind: .single, shards: [.init(slots: [], master: Self.node(1, .master), replicas: [])], readAt: Date()).replicaCount == 1)
        #expect(topology.allNodes.map(\.port) == [1, 3, 2, 4])
    }

    @Test("Shard file names: DCS's redis_<ip>_<port>_<slot-range>_<time>.rdb; no range for master/standby")
    func fileNames() {
        let at = Date(timeIntervalSince1970: 1_566_335_896)  // 2019-08-20T21:18:16Z
        var shard = DCSBackupShard(
            index: 2, slots: [.init(start: 10923, end: 16383)], masterHost: "192.168.63.250", masterPort: 6379, sourceHost: "192.168.63.251",
            sourcePort: 6379, sourceRole: .replica, retried: false, blobKey: "k", size: 1, sha256: "", keys: 1)
        #expect(shard.fileName(createdAt: at) == "redis_192.168.63.250_6379_10923-16383_20190820211816.rdb")
        shard.slots = []
        #expect(shard.fileName(createdAt: at) == "redis_192.168.63.250_6379_20190820211816.rdb")
    }
}
