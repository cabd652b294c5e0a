/// The shape of a Redis deployment as its servers describe it: one shard (a single server, or a master with its
/// replicas) or, in cluster mode, one shard per master with its hash-slot ranges.
///
/// Pure values, made by the parsers below from what `INFO replication`, `CLUSTER SHARDS` and `CLUSTER NODES`
/// answer, so that every reading of a reply is unit-tested on captured output; ``RedisTopologyReader`` does the I/O.
package struct RedisTopology: Sendable, Equatable {
    /// One server of the deployment.
    package struct Node: Sendable, Hashable {
        package var host: String
        package var port: Int
        /// The cluster node id (40 hex characters); nil outside cluster mode.
        package var id: String?
        package var isMaster: Bool
        /// The servers' own view of the node: cluster health `online` (not `loading`/`fail`), a replica whose link
        /// to its master is up, a master that answered.
        package var healthy: Bool

        package init(host: String, port: Int, id: String? = nil, isMaster: Bool, healthy: Bool) {
            self.host = host
            self.port = port
            self.id = id
            self.isMaster = isMaster
            self.healthy = healthy
        }
    }

    /// A master and its replicas; in cluster mode with the slot ranges the master serves.
    package struct Shard: Sendable, Equatable {
        /// Inclusive ranges of hash slots, ascending; empty outside cluster mode (the shard holds every key).
        package var slots: [ClosedRange<Int>]
        /// Nil when the master is not known (a replica whose master could not be named).
        package var master: Node?
        package var replicas: [Node]

        package init(slots: [ClosedRange<Int>], master: Node?, replicas: [Node]) {
            self.slots = slots
            self.master = master
            self.replicas = replicas
        }
    }

    /// Whether the servers run in cluster mode (`cluster_enabled:1`).
    package var clusterEnabled: Bool
    /// Cluster shards in ascending order of their first slot; one shard outside cluster mode.
    package var shards: [Shard]

    package init(clusterEnabled: Bool, shards: [Shard]) {
        self.clusterEnabled = clusterEnabled
        self.shards = shards
    }
}

// MARK: - CLUSTER SHARDS (Redis 7)

extension RedisTopology {
    /// Reads the RESP2 reply of `CLUSTER SHARDS`: an array of shards, each a flat map with `slots` (start/end
    /// integer pairs) and `nodes` (flat maps with `id`, `ip`, `endpoint`, `port`/`tls-port`, `role`, `health`).
    /// Shards without slots (a master holding none, or only failed replicas of a gone master) are left out: they
    /// hold no key.
    /// - Throws: ``RedisError/protocolViolation(_:)`` when the reply does not have that shape.
    package static func parseClusterShards(_ reply: RESPValue) throws -> RedisTopology {
        guard let shards = reply.array else { throw RedisError.protocolViolation("CLUSTER SHARDS: expected an array, got \(reply)") }
        var result: [Shard] = []
        for shard in shards {
            let fields = try Self.map(shard, what: "a shard")
            guard let slotValues = fields["slots"]?.array, let nodeValues = fields["nodes"]?.array else {
                throw RedisError.protocolViolation("CLUSTER SHARDS: a shard without slots or nodes")
            }
            let bounds = slotValues.compactMap { $0.integer.map(Int.init) }
            guard bounds.count == slotValues.count, bounds.count % 2 == 0 else {
                throw RedisError.protocolViolation("CLUSTER SHARDS: slots are not start/end pairs")
            }
            var slots: [ClosedRange<Int>] = []
            for index in stride(from: 0, to: bounds.count, by: 2) {
                let (start, end) = (bounds[index], bounds[index + 1])
                guard (0...16383).contains(start), (start...16383).contains(end) else {
                    throw RedisError.protocolViolation("CLUSTER SHARDS: slot range \(start)-\(end) out of 0-16383")
                }
                slots.append(start...end)
            }
            var master: Node?
            var replicas: [Node] = []
            for value in nodeValues {
                let node = try Self.map(value, what: "a node")
                let host = node["ip"]?.string.flatMap { $0.isEmpty || $0 == "?" ? nil : $0 } ?? node["endpoint"]?.string ?? ""
                guard let port = (node["port"] ?? node["tls-port"])?.integer.flatMap({ Int(exactly: $0) }), !host.isEmpty else {
                    throw RedisError.protocolViolation("CLUSTER SHARDS: a node without an address")
                }
                let parsed = Node(
                    host: host, port: port, id: node["id"]?.string, isMaster: node["role"]?.string == "master",
                    healthy: node["health"]?.string == "online")
                if parsed.isMaster, master == nil { master = parsed } else { replicas.append(parsed) }
            }
            guard !slots.isEmpty else { continue }
            result.append(Shard(slots: slots.sorted { $0.lowerBound < $1.lowerBound }, master: master, replicas: replicas))
        }
        return RedisTopology(clusterEnabled: true, shards: result.sorted { ($0.slots.first?.lowerBound ?? 0) < ($1.slots.first?.lowerBound ?? 0) })
    }

    private static func map(_ value: RESPValue, what: String) throws -> [String: RESPValue] {
        guard let items = value.array, items.count % 2 == 0 else { throw RedisError.protocolViolation("CLUSTER SHARDS: \(what) is not a map") }
        var fields: [String: RESPValue] = [:]
        for index in stride(from: 0, to: items.count, by: 2) {
            guard let key = items[index].string else { throw RedisError.protocolViolation("CLUSTER SHARDS: \(what) has a non-string key") }
            fields[key] = items[index + 1]
        }
        return fields
    }
}

// MARK: - CLUSTER NODES (before Redis 7)

extension RedisTopology {
    /// Reads `CLUSTER NODES`: one line per node, `<id> <ip:port@cport[,hostname]> <flags> <master-id|-> <ping-sent>
    /// <pong-recv> <config-epoch> <link-state> <slot>…`. Slots are `n` or `a-b`; `[n->-id]`/`[n-<-id]` (a slot being
    /// migrated) are left to the master that owns them. A node is healthy when its flags carry none of `fail`,
    /// `fail?`, `noaddr`, `handshake` and its link is `connected`.
    /// - Throws: ``RedisError/protocolViolation(_:)`` for a line that does not have that shape.
    package static func parseClusterNodes(_ text: String) throws -> RedisTopology {
        struct Line {
            var node: Node
            var masterID: String?
            var slots: [ClosedRange<Int>]
        }
        var lines: [Line] = []
        for raw in text.split(whereSeparator: \.isNewline) where !raw.allSatisfy(\.isWhitespace) {
            let fields = raw.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard fields.count >= 8 else { throw RedisError.protocolViolation("CLUSTER NODES: short line '\(raw)'") }
            let address = fields[1].split(separator: ",", maxSplits: 1)[0].split(separator: "@", maxSplits: 1)[0]
            guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
                throw RedisError.protocolViolation("CLUSTER NODES: bad address '\(fields[1])'")
            }
            var host = String(address[..<colon])
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            let flags = Set(fields[2].split(separator: ",").map(String.init))
            let healthy = flags.isDisjoint(with: ["fail", "fail?", "noaddr", "handshake"]) && fields[7] == "connected"
            var slots: [ClosedRange<Int>] = []
            for slot in fields.dropFirst(8) where !slot.hasPrefix("[") {
                let bounds = slot.split(separator: "-", maxSplits: 1).compactMap { Int($0) }
                guard let start = bounds.first, let end = bounds.last, (0...16383).contains(start), (start...16383).contains(end) else {
                    throw RedisError.protocolViolation("CLUSTER NODES: bad slot '\(slot)'")
                }
                slots.append(start...end)
            }
            lines.append(
                Line(
                    node: Node(host: host, port: port, id: fields[0], isMaster: flags.contains("master"), healthy: healthy && !host.isEmpty),
                    masterID: fields[3] == "-" ? nil : fields[3], slots: slots))
        }
        var shards: [Shard] = []
        for line in lines where line.node.isMaster && !line.slots.isEmpty {
            let replicas = lines.filter { !$0.node.isMaster && $0.masterID == line.node.id }.map(\.node)
            shards.append(Shard(slots: line.slots.sorted { $0.lowerBound < $1.lowerBound }, master: line.node, replicas: replicas))
        }
        return RedisTopology(clusterEnabled: true, shards: shards.sorted { ($0.slots.first?.lowerBound ?? 0) < ($1.slots.first?.lowerBound ?? 0) })
    }
}

// MARK: - INFO replication

/// What `INFO replication` says about one server: its role, and either its master or its replicas.
package struct RedisReplicationInfo: Sendable, Equatable {
    /// A replica as its master lists it (`slave0:ip=…,port=…,state=online,…`).
    package struct Replica: Sendable, Equatable {
        package var host: String
        package var port: Int
        /// `online` once the replica has loaded its first snapshot; `wait_bgsave`, `send_bulk`, … before.
        package var state: String

        package init(host: String, port: Int, state: String) {
            self.host = host
            self.port = port
            self.state = state
        }
    }

    package var isMaster: Bool
    /// For a replica: its master's address as configured (`master_host`, `master_port`).
    package var masterHost: String?
    package var masterPort: Int?
    /// For a replica: `master_link_status:up`.
    package var masterLinkUp: Bool
    /// For a replica: how much of its master's stream it has processed (`slave_repl_offset`). After a full sync it
    /// stays at the sync's offset (0 from a fresh master) until the master starts streaming, up to a second later:
    /// the master waits for the replica's first `REPLCONF ACK`, and writes made meanwhile are not on the replica yet.
    package var replicaOffset: Int64?
    /// For a master: its replicas.
    package var replicas: [Replica]

    /// A replica to take a snapshot from, by Redis's own rule (`CLUSTER SHARDS` calls a replica `loading` while its
    /// offset is 0) but asked first-hand rather than through gossip: its link is up and it has processed part of its
    /// master's stream.
    package var isSyncedReplica: Bool { !self.isMaster && self.masterLinkUp && (self.replicaOffset ?? 0) > 0 }

    /// Reads the `replication` section of `info`.
    package init(_ info: RedisInfo) {
        let fields = info.sections["replication"] ?? [:]
        self.isMaster = fields["role"] != "slave"
        self.masterHost = fields["master_host"]
        self.masterPort = fields["master_port"].flatMap { Int($0) }
        self.masterLinkUp = fields["master_link_status"] == "up"
        self.replicaOffset = fields["slave_repl_offset"].flatMap { Int64($0) }
        var replicas: [(Int, Replica)] = []
        for (key, value) in fields where key.hasPrefix("slave") {
            guard let index = Int(key.dropFirst("slave".count)) else { continue }
            var parts: [String: String] = [:]
            for pair in value.split(separator: ",") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                if kv.count == 2 { parts[String(kv[0])] = String(kv[1]) }
            }
            guard let host = parts["ip"], let port = parts["port"].flatMap({ Int($0) }) else { continue }
            replicas.append((index, Replica(host: host, port: port, state: parts["state"] ?? "")))
        }
        self.replicas = replicas.sorted { $0.0 < $1.0 }.map(\.1)
    }
}
