import Logging

/// Reads a deployment's ``RedisTopology`` starting from any one of its servers.
///
/// Cluster mode (`cluster_enabled:1`): `CLUSTER SHARDS` (Redis 7), else `CLUSTER NODES`; any node answers for the
/// whole cluster. Otherwise `INFO replication`: a master lists its replicas; a replica names its master, which is
/// then asked for its own list (so adopting through the standby finds the master and every other replica). Every
/// server of one deployment takes the same credentials, as a DCS instance has one password.
package enum RedisTopologyReader {
    /// - Throws: ``RedisError`` when `endpoint` cannot be reached or answers nonsense. A replica's master that
    ///   cannot be reached is no error: it is reported unhealthy, beside the replica that named it.
    package static func read(from endpoint: RedisEndpoint, timeout: Duration, logger: Logger) async throws -> RedisTopology {
        enum First: Sendable {
            case cluster(RedisTopology)
            case replication(RedisReplicationInfo)
        }
        let first = try await RedisConnection.withConnection(to: endpoint, timeout: timeout, logger: logger) { connection -> First in
            let info = try await connection.info(timeout: timeout)
            guard info.value("cluster_enabled", in: "cluster") == "1" else { return .replication(RedisReplicationInfo(info)) }
            let shards = try await connection.command(["CLUSTER", "SHARDS"], timeout: timeout)
            if shards.errorMessage == nil { return .cluster(try RedisTopology.parseClusterShards(shards)) }
            // Before Redis 7 (`unknown subcommand`): the text form.
            guard let text = try await connection.commandExpectingSuccess(["CLUSTER", "NODES"], timeout: timeout).string else {
                throw RedisError.protocolViolation("CLUSTER NODES did not return a string")
            }
            return .cluster(try RedisTopology.parseClusterNodes(text))
        }
        switch first {
        case .cluster(let topology):
            return topology
        case .replication(let replication) where replication.isMaster:
            return RedisTopology(clusterEnabled: false, shards: [Self.shard(master: endpoint, replication)])
        case .replication(let replication):
            let me = RedisTopology.Node(host: endpoint.host, port: endpoint.port, isMaster: false, healthy: replication.masterLinkUp)
            guard let host = replication.masterHost, let port = replication.masterPort else {
                return RedisTopology(clusterEnabled: false, shards: [.init(slots: [], master: nil, replicas: [me])])
            }
            var master = endpoint
            master.host = host
            master.port = port
            do {
                let info = try await RedisConnection.withConnection(to: master, timeout: timeout, logger: logger) { connection in
                    try await connection.info("replication", timeout: timeout)
                }
                var shard = Self.shard(master: master, RedisReplicationInfo(info))
                // The master may list the replica under another address (announced IP): keep the one Coffer reached.
                if !shard.replicas.contains(where: { $0.host == me.host && $0.port == me.port }),
                    let index = shard.replicas.firstIndex(where: { $0.port == me.port })
                {
                    shard.replicas[index].host = me.host
                }
                if !shard.replicas.contains(where: { $0.host == me.host && $0.port == me.port }) { shard.replicas.append(me) }
                return RedisTopology(clusterEnabled: false, shards: [shard])
            } catch let error as RedisError {
                logger.notice("The replica's master cannot be read", metadata: ["redis.master": "\(host):\(port)", "error": "\(error)"])
                let down = RedisTopology.Node(host: host, port: port, isMaster: true, healthy: false)
                return RedisTopology(clusterEnabled: false, shards: [.init(slots: [], master: down, replicas: [me])])
            }
        }
    }

    private static func shard(master endpoint: RedisEndpoint, _ replication: RedisReplicationInfo) -> RedisTopology.Shard {
        RedisTopology.Shard(
            slots: [], master: .init(host: endpoint.host, port: endpoint.port, isMaster: true, healthy: true),
            replicas: replication.replicas.map { .init(host: $0.host, port: $0.port, isMaster: false, healthy: $0.state == "online") })
    }
}
