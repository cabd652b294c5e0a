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
    private func checked(_ topology: RedisTopology, readFrom endpoint: RedisEndpoint, now: Date) async -> DCSTopology {
        let nodes = topology.shards.flatMap { ($0.master.map { [$0] } ?? []) + $0.replicas }
        let reached = await withTaskGroup(of: (String, Bool).self) { group in
            for node in nodes {
                let key = "\(node.host):\(node.port)"
                if node.host == endpoint.host && node.port == endpoint.port { continue }
                let probe = RedisEndpoint(host: node.host, port: node.port, username: endpoint.username, password: endpoint.password)
                group.addTask {
                    let ok = (try? await RedisConnection.withConnection(to: probe, timeout: self.timeout, logger: self.logger) { _ in true }) ?? false
                    return (key, ok)
                }
            }
            var reached: [String: Bool] = ["\(endpoint.host):\(endpoint.port)": true]
            for await (key, ok) in group { reached[key] = ok }
            return reached
        }
        func convert(_ node: RedisTopology.Node) -> DCSTopology.Node {
            DCSTopology.Node(
                host: node.host, port: node.port, role: node.isMaster ? .master : .replica, healthy: node.healthy,
                reachable: reached["\(node.host):\(node.port)"] ?? false)
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
