import CofferRedis
import Foundation
import NIOCore
import Testing

/// Topology parsing on replies captured from a real Redis 7.0.15 cluster (3 masters, 3 replicas on 17001–17006) and
/// a master/replica pair, before and after the replica on 17006 was shut down.
@Suite("RedisTopology")
struct RedisTopologyTests {
    private func resp(_ text: String) throws -> RESPValue {
        var buffer = ByteBuffer(string: text)
        return try #require(try RESPParser().parse(&buffer))
    }

    @Test("CLUSTER SHARDS: three shards in slot order, masters and replicas; a replica still loading is not healthy")
    func clusterShards() throws {
        let topology = try RedisTopology.parseClusterShards(try self.resp(Captured.shardsOK))
        #expect(topology.clusterEnabled)
        #expect(topology.shards.map(\.slots) == [[0...5460], [5461...10922], [10923...16383]])
        #expect(topology.shards.map { $0.master?.port } == [17001, 17002, 17003])
        #expect(topology.shards.map { $0.replicas.map(\.port) } == [[17004], [17005], [17006]])
        #expect(topology.shards.allSatisfy { $0.master?.healthy == true })
        // Captured a moment after `--cluster create`: the replica on 17005 was still loading its first snapshot.
        #expect(topology.shards.map { $0.replicas.map(\.healthy) } == [[true], [false], [true]])
        #expect(topology.shards[0].master?.id == "1588167221513d2335dba64cccd01c7edd65787b")
        #expect(topology.shards.allSatisfy { $0.master?.host == "127.0.0.1" })
    }

    @Test("CLUSTER SHARDS: a failed replica is unhealthy, its shard keeps its master")
    func clusterShardsFailed() throws {
        let topology = try RedisTopology.parseClusterShards(try self.resp(Captured.shardsFailed))
        let third = try #require(topology.shards.last)
        #expect(third.replicas.map(\.port) == [17006])
        #expect(third.replicas.first?.healthy == false)
        #expect(third.master?.healthy == true)
        #expect(topology.shards.dropLast().allSatisfy { $0.replicas.allSatisfy(\.healthy) })
    }

    @Test("CLUSTER NODES gives the same shards as CLUSTER SHARDS; fail flags and disconnected links are unhealthy")
    func clusterNodes() throws {
        let ok = try RedisTopology.parseClusterNodes(Captured.nodesOK)
        let shards = try RedisTopology.parseClusterShards(try self.resp(Captured.shardsOK))
        #expect(ok.shards.map(\.slots) == shards.shards.map(\.slots))
        #expect(ok.shards.map { $0.master?.port } == shards.shards.map { $0.master?.port })
        #expect(ok.shards.map { $0.replicas.map(\.port) } == shards.shards.map { $0.replicas.map(\.port) })
        #expect(ok.shards.allSatisfy { $0.replicas.allSatisfy(\.healthy) })
        let failed = try RedisTopology.parseClusterNodes(Captured.nodesFailed)
        #expect(failed.shards.last?.replicas.first?.healthy == false)
        #expect(failed.shards.first?.replicas.first?.healthy == true)
    }

    @Test("CLUSTER NODES: several ranges, single slots and migrating slots")
    func clusterNodesSlots() throws {
        let text = """
            aaaa 10.0.0.1:6379@16379,host-a myself,master - 0 0 1 connected 0-100 200 [300->-bbbb] 400-500
            bbbb 10.0.0.2:6379@16379 master,fail? - 0 0 2 connected 101-199
            cccc [::1]:6380@16380 slave aaaa 0 0 1 connected
            """
        let topology = try RedisTopology.parseClusterNodes(text)
        #expect(topology.shards.map(\.slots) == [[0...100, 200...200, 400...500], [101...199]])
        #expect(topology.shards[0].replicas.map(\.host) == ["::1"])
        #expect(topology.shards[1].master?.healthy == false)
        #expect(throws: RedisError.self) { try RedisTopology.parseClusterNodes("aaaa 10.0.0.1:6379@1 master - 0 0 1 connected 0-99999") }
        #expect(throws: RedisError.self) { try RedisTopology.parseClusterNodes("too short") }
    }

    @Test("CLUSTER SHARDS: a reply of another shape is a protocol violation")
    func clusterShardsMalformed() throws {
        #expect(throws: RedisError.self) { try RedisTopology.parseClusterShards(.integer(3)) }
        #expect(throws: RedisError.self) { try RedisTopology.parseClusterShards(try self.resp("*1\r\n*2\r\n$5\r\nslots\r\n*1\r\n:1\r\n")) }
    }

    @Test("INFO replication of a replica names its master; of a master lists its replicas")
    func replicationInfo() {
        let replica = RedisReplicationInfo(RedisInfo(parsing: Captured.infoReplica))
        #expect(!replica.isMaster)
        #expect(replica.masterHost == "127.0.0.1")
        #expect(replica.masterPort == 17001)
        #expect(replica.masterLinkUp)
        #expect(replica.replicaOffset == 14 && replica.isSyncedReplica)
        // Right after a full sync from a fresh master: the link is up, but nothing of the stream has arrived yet.
        let fresh = RedisReplicationInfo(RedisInfo(parsing: Captured.infoReplica.replacingOccurrences(of: "slave_repl_offset:14", with: "slave_repl_offset:0")))
        #expect(fresh.masterLinkUp && !fresh.isSyncedReplica)
        let down = RedisReplicationInfo(RedisInfo(parsing: Captured.infoReplica.replacingOccurrences(of: "master_link_status:up", with: "master_link_status:down")))
        #expect(!down.isSyncedReplica)
        let master = RedisReplicationInfo(RedisInfo(parsing: Captured.infoMaster))
        #expect(master.isMaster)
        #expect(master.replicas == [.init(host: "127.0.0.1", port: 17005, state: "online")])
        #expect(!master.isSyncedReplica)
    }

    @Test("hash slots: CRC16 of the key or of its hash tag", arguments: [
        ("foo", 12182), ("bar", 5061), ("{user1000}.following", 3443), ("{user1000}.followers", 3443), ("foo{}{bar}", 8363),
        ("foo{{bar}}zap", 4015), ("foo{bar}{zap}", 5061), ("", 0),
    ])
    func slots(key: String, slot: Int) {
        #expect(RedisSlot.slot(of: key) == slot)
    }
}

private enum Captured {
    /// Captured from redis-server 7.0.15 (`shards-ok.resp`).
    static let shardsOK = "*3\r\n*4\r\n$5\r\nslots\r\n*2\r\n:10923\r\n:16383\r\n$5\r\nnodes\r\n*2\r\n*14\r\n$2\r\nid\r\n$40\r\n059083bb91150ca34c1addb602e0579e434dddae\r\n$4\r\nport\r\n:17003\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:14\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*14\r\n$2\r\nid\r\n$40\r\n17f6a64fb5bd73a17862ff666fcbbcb6d45178a5\r\n$4\r\nport\r\n:17006\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\nreplication-offset\r\n:14\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:5460\r\n$5\r\nnodes\r\n*2\r\n*14\r\n$2\r\nid\r\n$40\r\n1588167221513d2335dba64cccd01c7edd65787b\r\n$4\r\nport\r\n:17001\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:0\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*14\r\n$2\r\nid\r\n$40\r\n0c9fca417038cb546848f834bb1b33cb77b3e624\r\n$4\r\nport\r\n:17004\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\nreplication-offset\r\n:14\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*4\r\n$5\r\nslots\r\n*2\r\n:5461\r\n:10922\r\n$5\r\nnodes\r\n*2\r\n*14\r\n$2\r\nid\r\n$40\r\n3707c3dd8ea1ad05b375d2cabf314be2f247d3fa\r\n$4\r\nport\r\n:17002\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:0\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*14\r\n$2\r\nid\r\n$40\r\ndfae9da2a349c1755dee9644bb4a08e0c072ca81\r\n$4\r\nport\r\n:17005\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\nreplication-offset\r\n:0\r\n$6\r\nhealth\r\n$7\r\nloading\r\n"
    /// Captured from redis-server 7.0.15 (`shards-failed.resp`).
    static let shardsFailed = "*3\r\n*4\r\n$5\r\nslots\r\n*2\r\n:10923\r\n:16383\r\n$5\r\nnodes\r\n*2\r\n*14\r\n$2\r\nid\r\n$40\r\n059083bb91150ca34c1addb602e0579e434dddae\r\n$4\r\nport\r\n:17003\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:14\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*14\r\n$2\r\nid\r\n$40\r\n17f6a64fb5bd73a17862ff666fcbbcb6d45178a5\r\n$4\r\nport\r\n:17006\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\nreplication-offset\r\n:14\r\n$6\r\nhealth\r\n$4\r\nfail\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:5460\r\n$5\r\nnodes\r\n*2\r\n*14\r\n$2\r\nid\r\n$40\r\n1588167221513d2335dba64cccd01c7edd65787b\r\n$4\r\nport\r\n:17001\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:42\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*14\r\n$2\r\nid\r\n$40\r\n0c9fca417038cb546848f834bb1b33cb77b3e624\r\n$4\r\nport\r\n:17004\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\nreplication-offset\r\n:42\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*4\r\n$5\r\nslots\r\n*2\r\n:5461\r\n:10922\r\n$5\r\nnodes\r\n*2\r\n*14\r\n$2\r\nid\r\n$40\r\n3707c3dd8ea1ad05b375d2cabf314be2f247d3fa\r\n$4\r\nport\r\n:17002\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:42\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*14\r\n$2\r\nid\r\n$40\r\ndfae9da2a349c1755dee9644bb4a08e0c072ca81\r\n$4\r\nport\r\n:17005\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\nreplication-offset\r\n:42\r\n$6\r\nhealth\r\n$6\r\nonline\r\n"
    /// Captured from redis-server 7.0.15 (`nodes-ok.txt`).
    static let nodesOK = "17f6a64fb5bd73a17862ff666fcbbcb6d45178a5 127.0.0.1:17006@27006 slave 059083bb91150ca34c1addb602e0579e434dddae 0 1796008654000 3 connected\n059083bb91150ca34c1addb602e0579e434dddae 127.0.0.1:17003@27003 master - 0 1796008652000 3 connected 10923-16383\n1588167221513d2335dba64cccd01c7edd65787b 127.0.0.1:17001@27001 master - 0 1796008654787 1 connected 0-5460\n0c9fca417038cb546848f834bb1b33cb77b3e624 127.0.0.1:17004@27004 myself,slave 1588167221513d2335dba64cccd01c7edd65787b 0 1796008652000 1 connected\n3707c3dd8ea1ad05b375d2cabf314be2f247d3fa 127.0.0.1:17002@27002 master - 0 1796008652774 2 connected 5461-10922\ndfae9da2a349c1755dee9644bb4a08e0c072ca81 127.0.0.1:17005@27005 slave 3707c3dd8ea1ad05b375d2cabf314be2f247d3fa 0 1796008652000 2 connected\n"
    /// Captured from redis-server 7.0.15 (`nodes-failed.txt`).
    static let nodesFailed = "17f6a64fb5bd73a17862ff666fcbbcb6d45178a5 127.0.0.1:17006@27006 slave,fail 059083bb91150ca34c1addb602e0579e434dddae 1796008656797 1796008654000 3 disconnected\n059083bb91150ca34c1addb602e0579e434dddae 127.0.0.1:17003@27003 master - 0 1796008678965 3 connected 10923-16383\n1588167221513d2335dba64cccd01c7edd65787b 127.0.0.1:17001@27001 master - 0 1796008677957 1 connected 0-5460\n0c9fca417038cb546848f834bb1b33cb77b3e624 127.0.0.1:17004@27004 myself,slave 1588167221513d2335dba64cccd01c7edd65787b 0 1796008676000 1 connected\n3707c3dd8ea1ad05b375d2cabf314be2f247d3fa 127.0.0.1:17002@27002 master - 0 1796008676948 2 connected 5461-10922\ndfae9da2a349c1755dee9644bb4a08e0c072ca81 127.0.0.1:17005@27005 slave 3707c3dd8ea1ad05b375d2cabf314be2f247d3fa 0 1796008677000 2 connected\n"
    /// Captured from redis-server 7.0.15 (`info-replica.txt`).
    static let infoReplica = "# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:17001\r\nmaster_link_status:up\r\nmaster_last_io_seconds_ago:3\r\nmaster_sync_in_progress:0\r\nslave_read_repl_offset:14\r\nslave_repl_offset:14\r\nslave_priority:100\r\nslave_read_only:1\r\nreplica_announced:1\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\nmaster_replid:ec40b94bb2d8e4ac17308fe4ec06294cf56024e0\r\nmaster_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:14\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:1\r\nrepl_backlog_size:1048576\r\nrepl_backlog_first_byte_offset:1\r\nrepl_backlog_histlen:14\r\n"
    /// Captured from redis-server 7.0.15 (`info-master.txt`).
    static let infoMaster = "# Replication\r\nrole:master\r\nconnected_slaves:1\r\nslave0:ip=127.0.0.1,port=17005,state=online,offset=42,lag=1\r\nmaster_failover_state:no-failover\r\nmaster_replid:c191df5ac1cd99bf95c77ec1ac2ef31291e62ad9\r\nmaster_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:42\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:1\r\nrepl_backlog_size:1048576\r\nrepl_backlog_first_byte_offset:1\r\nrepl_backlog_histlen:42\r\n"
}
