import CofferCore
import CofferRedis
import Foundation
import Logging

extension RedisInspector {
    /// Reads the instance's deployment from the first of its known nodes that answers (the adopted address, then
    /// every node of the last topology), then checks that Coffer reaches each node (a cluster's own view lags a
    /// dead node by its node timeout; a backup must not pick one).
    /// - Throws: `DCS.4080`/`DCS.4800`-style `DCSError` naming the adopted address when no node answers.
    package func topology(of instance: DCSInstance, now: Date) async throws -> DCSTopology {
        var candidates = [RedisEndpoint(host: instance.host, port: instance.port, username: instance.accessUser, password: instance.password)]
        for node in instance.topology?.allNodes ?? [] where !candidates.contains(where: { $0.host == node.host && $0.port == node.port }) {
            candidates.append(RedisEndpoint(host: node.host, port: node.port, username: instance.accessUser, password: instance.password))
        }
        var firstError: (any Error)?
        for endpoint in candidates {
            do {
                let read = try await RedisTopologyReader.read(from: endpoint, timeout: self.timeout, logger: self.logger)
                return await self.checked(read, readFrom: endpoint, now: now)
            } catch let error as RedisError {
                if firstError == nil { firstError = error }
                // A wrong password is wrong on every node: asking the others only delays the answer.
                if case .authenticationFailed = error { break }
            }
        }
        if let error = firstError as? RedisError, case .authenticationFailed = error { throw DCSError.redisPasswordRejected(instance.address) }
        throw DCSError.redisUnreachable(instance.address, firstError.map { "\($0)" } ?? "no node to ask")
    }

    /// The core form of `topology`, each node marked reachable or not (probed concurrently, each within the timeout).
    ///
    /// A replica that answers the probe is also asked for its own replication state, which then decides its health
    /// (``RedisReplicationInfo/isSyncedReplica``: link up, offset above 0). The cluster's view of another node comes by
    /// gossip: Redis 7.0's `CLUSTER SHARDS` calls a replica `loading` until a ping has carried its offset, so a synced
    /// replica looked unusable and its master was forked instead. The link alone is not enough either: right after a
    /// full sync it is up while the writes since wait for the replica's first ACK (a backup from it then lacked a
    /// second of writes; the SDK suite's cluster backup caught it).
    private func checked(_ topology: RedisTopology, readFrom endpoint: RedisEndpoint, now: Date) async -> DCSTopology {
        struct Probe: Sendable {
            var reachable: Bool
            /// A replica's own answer: it is synced with its master.
            var synced: Bool?
        }
        let nodes = topology.shards.flatMap { ($0.master.map { [$0] } ?? []) + $0.replicas }
        let probes = await withTaskGroup(of: (String, Probe).self) { group in
            for node in nodes {
                let key = "\(node.host):\(node.port)"
                if node.host == endpoint.host && node.port == endpoint.port { continue }
                let probe = RedisEndpoint(host: node.host, port: node.port, username: endpoint.username, password: endpoint.password)
                group.addTask {
                    let answer = try? await RedisConnection.withConnection(to: probe, timeout: self.timeout, logger: self.logger) { connection in
                        guard !node.isMaster else { return Probe(reachable: true) }
                        let replication = try? await connection.info("replication")
                        return Probe(reachable: true, synced: replication.map { RedisReplicationInfo($0).isSyncedReplica })
                    }
                    return (key, answer ?? Probe(reachable: false))
                }
            }
            // The node that answered the topology speaks for itself (its own offset is not gossip).
            var probes: [String: Probe] = ["\(endpoint.host):\(endpoint.port)": Probe(reachable: true)]
            for await (key, probe) in group { probes[key] = probe }
            return probes
        }
        func convert(_ node: RedisTopology.Node) -> DCSTopology.Node {
            let probe = probes["\(node.host):\(node.port)"]
            return DCSTopology.Node(
                host: node.host, port: node.port, role: node.isMaster ? .master : .replica, healthy: probe?.synced ?? node.healthy,
                reachable: probe?.reachable ?? false)
        }
        let shards = topology.shards.map { shard in
            DCSTopology.Shard(
                slots: shard.slots.map { DCSTopology.SlotRange(start: $0.lowerBound, end: $0.upperBound) }, master: shard.master.map(convert),
                replicas: shard.replicas.map(convert))
        }
        let kind: DCSTopology.Kind =
            if topology.clusterEnabled { .cluster } else if shards.contains(where: { !$0.replicas.isEmpty }) { .masterStandby } else { .single }
        return DCSTopology(kind: kind, shards: shards, readAt: now)
    }
}
