import CofferRedis
import Foundation
import Logging

/// A real Redis Cluster for tests: 3 masters and 3 replicas (`redis-cli --cluster create … --cluster-replicas 1`) on
/// free loopback ports, each a ``RedisServer`` with its own directory; ready when every node reports
/// `cluster_state:ok` and every replica's link to its master is up (a replica still loading would be skipped by a
/// backup). ``stop()`` stops them all.
package final class RedisCluster: Sendable {
    /// Every node, in the order given to `redis-cli --cluster create` (masters first).
    package let nodes: [RedisServer]
    package let password: String?
    let replicasPerMaster: Int

    private init(nodes: [RedisServer], password: String?, replicasPerMaster: Int) {
        self.nodes = nodes
        self.password = password
        self.replicasPerMaster = replicasPerMaster
    }

    /// Short node timeout: a killed node is marked failed within seconds. Diskless pulls without the 5 s wait.
    static func arguments(extra: [String]) -> [String] {
        [
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "3000",
            "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0",
        ] + extra
    }

    /// Starts `masters` masters with `replicasPerMaster` replicas each and waits (at most 60 s) until the cluster is ok.
    package static func start(
        masters: Int = 3, replicasPerMaster: Int = 1, password: String? = nil, extraArguments: [String] = []
    ) async throws -> RedisCluster {
        var extra = extraArguments
        if let password { extra += ["--masterauth", password] }
        var nodes: [RedisServer] = []
        do {
            for _ in 0..<(masters * (1 + replicasPerMaster)) {
                // The bus port: by default the port + 10000, which a free port above 55535 does not have.
                let bus = ["--cluster-port", "\(try FreePort.next())"]
                nodes.append(try await RedisServer.start(password: password, extraArguments: Self.arguments(extra: extra + bus)))
            }
            let cluster = RedisCluster(nodes: nodes, password: password, replicasPerMaster: replicasPerMaster)
            var arguments = ["--cluster", "create"] + nodes.map { "127.0.0.1:\($0.port)" }
            arguments += ["--cluster-replicas", "\(replicasPerMaster)", "--cluster-yes"]
            if let password { arguments += ["-a", password, "--no-auth-warning"] }
            let command = arguments
            let created = try await Task.detached { try ProcessRunner.run("redis-cli", command) }.value
            guard created.status == 0 else { throw RedisServerError.failedToStart("redis-cli --cluster create: \(created.output)") }
            try await cluster.waitUntilReady(timeout: .seconds(60))
            return cluster
        } catch {
            for node in nodes { await node.stop() }
            throw error
        }
    }

    /// Starts a cluster, runs `body`, stops the cluster whatever happens.
    package static func withCluster<Result: Sendable>(
        masters: Int = 3, replicasPerMaster: Int = 1, password: String? = nil, extraArguments: [String] = [],
        _ body: (RedisCluster) async throws -> Result
    ) async throws -> Result {
        let cluster = try await Self.start(masters: masters, replicasPerMaster: replicasPerMaster, password: password, extraArguments: extraArguments)
        do {
            let result = try await body(cluster)
            await cluster.stop()
            return result
        } catch {
            await cluster.stop()
            throw error
        }
    }

    package func stop() async {
        for node in self.nodes { await node.stop() }
    }

    /// The nodes by role now (`INFO replication` of each live node).
    package func roles() async throws -> (masters: [RedisServer], replicas: [RedisServer]) {
        var masters: [RedisServer] = []
        var replicas: [RedisServer] = []
        for node in self.nodes where node.isRunning {
            let connection = try await node.connect()
            let info = try await connection.info("replication")
            await connection.close()
            if info.value("role", in: "replication") == "master" { masters.append(node) } else { replicas.append(node) }
        }
        return (masters, replicas)
    }

    /// The replicas of `master` (by the port its `INFO replication` lists).
    package func replicas(of master: RedisServer) async throws -> [RedisServer] {
        let connection = try await master.connect()
        let info = try await connection.info("replication")
        await connection.close()
        let ports = Set(RedisReplicationInfo(info).replicas.map(\.port))
        return self.nodes.filter { ports.contains($0.port) }
    }

    /// The master that serves `slot` now.
    package func master(forSlot slot: Int) async throws -> RedisServer? {
        let connection = try await self.nodes[0].connect()
        let reply = try await connection.command(["CLUSTER", "SHARDS"])
        await connection.close()
        let topology = try RedisTopology.parseClusterShards(reply)
        guard let shard = topology.shards.first(where: { $0.slots.contains { $0.contains(slot) } }), let master = shard.master else { return nil }
        return self.nodes.first { $0.port == master.port }
    }

    /// The slot map as a running node sees it now (after a failover: the promoted replicas as masters).
    package func currentTopology() async throws -> RedisTopology {
        var lastError: (any Error)?
        for node in self.nodes where node.isRunning {
            do {
                let connection = try await node.connect()
                let reply = try await connection.command(["CLUSTER", "SHARDS"])
                await connection.close()
                return try RedisTopology.parseClusterShards(reply)
            } catch {
                lastError = error
            }
        }
        throw lastError ?? RedisServerError.failedToStart("no running node")
    }

    /// The masters serving slots now, each with the slots it serves.
    package func currentMasters() async throws -> [(server: RedisServer, slots: [ClosedRange<Int>])] {
        try await self.currentTopology().shards.compactMap { shard in
            guard let master = shard.master, !shard.slots.isEmpty, let server = self.nodes.first(where: { $0.port == master.port }) else { return nil }
            return (server, shard.slots)
        }
    }

    /// Runs each command (its key is its first argument) on the master that owns the key, pipelined per master.
    package func run(_ commands: [[String]]) async throws {
        let masters = try await self.currentMasters()
        var byMaster: [Int: [[String]]] = [:]
        for command in commands where command.count > 1 {
            let slot = RedisSlot.slot(of: command[1])
            guard let index = masters.firstIndex(where: { $0.slots.contains { $0.contains(slot) } }) else { continue }
            byMaster[index, default: []].append(command)
        }
        for (index, commands) in byMaster {
            let connection = try await masters[index].server.connect()
            for batch in stride(from: 0, to: commands.count, by: 1000) {
                let replies = try await connection.pipeline(Array(commands[batch..<min(batch + 1000, commands.count)]))
                if let error = replies.first(where: { $0.errorMessage != nil }) { throw RedisError.server(error.errorMessage ?? "") }
            }
            await connection.close()
        }
    }

    /// `count` keys of each kind under `prefix`: strings, lists, hashes, sets, sorted sets, keys with a TTL, and
    /// keys sharing hash tags (several keys of one slot).
    package func populateMixed(prefix: String, count: Int) async throws {
        var commands: [[String]] = []
        for i in 0..<count {
            let p = "\(prefix):\(i)"
            commands.append(["SET", "\(p):str", "value-\(i)"])
            commands.append(["RPUSH", "\(p):list"] + (0..<(1 + i % 5)).map { "item-\($0)" })
            commands.append(["HSET", "\(p):hash"] + (0..<(1 + i % 4)).flatMap { ["f\($0)", "v\($0)-\(i)"] })
            commands.append(["SADD", "\(p):set"] + (0..<(1 + i % 3)).map { "m\($0)" })
            commands.append(["ZADD", "\(p):zset"] + (0..<(1 + i % 3)).flatMap { ["\(Double($0) * 0.5)", "z\($0)"] })
            commands.append(["SET", "\(p):ttl", "expiring", "PX", "\(3_600_000 + i)"])
            commands.append(["SET", "{\(prefix)-tag\(i % 7)}:\(i)", "tagged-\(i)"])
        }
        try await self.run(commands)
    }

    /// Every key of the cluster now (database 0 of every serving master), by name.
    package func snapshot() async throws -> [String: RedisDataset.KeyState] {
        var keys: [String: RedisDataset.KeyState] = [:]
        for master in try await self.currentMasters() {
            let connection = try await master.server.connect()
            keys.merge(try await RedisDataset.snapshot(connection, databases: 0..<1)[0] ?? [:]) { first, _ in first }
            await connection.close()
        }
        return keys
    }

    /// Writes string keys `prefix:0` … through the masters that own them, pipelined per master.
    /// - Returns: the keys written.
    @discardableResult
    package func populate(keys count: Int, prefix: String = "key", valueBytes: Int = 32) async throws -> [String] {
        let connection = try await self.nodes[0].connect()
        let reply = try await connection.command(["CLUSTER", "SHARDS"])
        await connection.close()
        let topology = try RedisTopology.parseClusterShards(reply)
        var byMaster: [Int: [[String]]] = [:]
        var keys: [String] = []
        for index in 0..<count {
            let key = "\(prefix):\(index)"
            let slot = RedisSlot.slot(of: key)
            guard let port = topology.shards.first(where: { $0.slots.contains { $0.contains(slot) } })?.master?.port else { continue }
            byMaster[port, default: []].append(["SET", key, String(repeating: "v", count: valueBytes)])
            keys.append(key)
        }
        for (port, commands) in byMaster {
            guard let node = self.nodes.first(where: { $0.port == port }) else { continue }
            let connection = try await node.connect()
            for batch in stride(from: 0, to: commands.count, by: 1000) {
                _ = try await connection.pipeline(Array(commands[batch..<min(batch + 1000, commands.count)]))
            }
            await connection.close()
        }
        return keys
    }

    private func waitUntilReady(timeout: Duration) async throws {
        var logger = Logger(label: "coffer.test.redis-cluster")
        logger.logLevel = .critical
        let deadline = ContinuousClock.now + timeout
        var last = "not asked"
        while ContinuousClock.now < deadline {
            var ready = true
            for node in self.nodes {
                guard let connection = try? await RedisConnection.connect(to: node.endpoint, timeout: .seconds(2), logger: logger) else {
                    ready = false
                    break
                }
                let cluster = try? await connection.info("cluster")
                let state = try? await connection.command(["CLUSTER", "INFO"]).string
                let replication = try? await connection.info("replication")
                await connection.close()
                _ = cluster
                // Every node must know all the others: right after `--cluster create` gossip may not have told
                // one node of a replica yet, and a topology read through it would miss that replica.
                let ok = state?.contains("cluster_state:ok") == true && state?.contains("cluster_known_nodes:\(self.nodes.count)\r") == true
                let role = replication?.value("role", in: "replication")
                let linkUp = role == "master" || replication?.value("master_link_status", in: "replication") == "up"
                if !ok || !linkUp {
                    last = "node \(node.port): state ok \(ok), role \(role ?? "?"), link up \(linkUp)"
                    ready = false
                    break
                }
            }
            if ready {
                // Every node must also see every replica online (the cluster's health lags the link by a gossip round).
                if let connection = try? await RedisConnection.connect(to: self.nodes[0].endpoint, timeout: .seconds(2), logger: logger),
                    let reply = try? await connection.command(["CLUSTER", "SHARDS"])
                {
                    await connection.close()
                    if let topology = try? RedisTopology.parseClusterShards(reply),
                        topology.shards.allSatisfy({
                            ($0.master?.healthy ?? false) && $0.replicas.allSatisfy(\.healthy) && $0.replicas.count == self.replicasPerMaster
                        })
                    {
                        return
                    }
                    last = "CLUSTER SHARDS shows a node not online yet"
                }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw RedisServerError.failedToStart("the cluster did not become ready: \(last)")
    }
}

/// A master/standby pair for tests: a master and one replica (`--replicaof`), ready once the replica's link is up.
package final class RedisPair: Sendable {
    package let master: RedisServer
    package let standby: RedisServer

    private init(master: RedisServer, standby: RedisServer) {
        self.master = master
        self.standby = standby
    }

    package static func withPair<Result: Sendable>(
        password: String? = nil, extraArguments: [String] = [], _ body: (RedisPair) async throws -> Result
    ) async throws -> Result {
        let arguments = ["--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"] + extraArguments
        let master = try await RedisServer.start(password: password, extraArguments: arguments)
        let standby: RedisServer
        do {
            standby = try await RedisServer.start(
                password: password,
                extraArguments: arguments + ["--replicaof", "127.0.0.1", "\(master.port)"] + (password.map { ["--masterauth", $0] } ?? []))
        } catch {
            await master.stop()
            throw error
        }
        let pair = RedisPair(master: master, standby: standby)
        do {
            try await pair.waitUntilLinked(timeout: .seconds(30))
            let result = try await body(pair)
            await standby.stop()
            await master.stop()
            return result
        } catch {
            await standby.stop()
            await master.stop()
            throw error
        }
    }

    /// Waits until the standby has caught up with every write the master took so far.
    package func waitUntilLinked(timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let replica = try await self.standby.connect()
            let info = try await replica.info("replication")
            await replica.close()
            let primary = try await self.master.connect()
            let masterInfo = try await primary.info("replication")
            await primary.close()
            if info.value("master_link_status", in: "replication") == "up",
                RedisReplicationInfo(masterInfo).replicas.first?.state == "online",
                info.value("slave_repl_offset", in: "replication") == masterInfo.value("master_repl_offset", in: "replication")
            {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw RedisServerError.failedToStart("the standby did not link to its master")
    }
}
