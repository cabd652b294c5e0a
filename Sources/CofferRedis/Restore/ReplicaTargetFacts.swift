/// What the loader needs to know about a target before it may make it a replica, read from one `INFO`.
package struct ReplicaTargetFacts: Sendable, Equatable {
    /// `redis_version` (Valkey reports a compatible Redis version there too).
    package var redisVersion: String
    /// `valkey_version`, when the server is Valkey.
    package var valkeyVersion: String?
    /// `role:master` (or `slave`).
    package var isReplica: Bool
    /// `cluster_enabled:1`.
    package var clusterEnabled: Bool
    /// `master_replid`: the target's own replication id, which it sends in `PSYNC` once made a replica.
    package var replicationID: String?
    /// Keys over every database (`INFO keyspace`).
    package var keys: Int

    /// Reads the facts from an `INFO` reply holding the server, replication, cluster and keyspace sections.
    package init(_ info: RedisInfo) {
        self.redisVersion = info.redisVersion ?? ""
        self.valkeyVersion = info.value("valkey_version", in: "server")
        self.isReplica = info.role == "slave"
        self.clusterEnabled = info.value("cluster_enabled", in: "cluster") == "1"
        self.replicationID = info.value("master_replid", in: "replication")
        self.keys = info.dbKeyCounts?.values.reduce(0) { $0 + $1.keys } ?? 0
    }

    /// Whether the target's server can load an RDB file of `rdbVersion` (restore.md §2 table): Redis up to
    /// its own `RDB_VERSION`; Valkey up to 11, and from 9.0 its own version 80 as well (it refuses Redis'
    /// 12–79 by default). `nil` when the version cannot be read.
    package func accepts(rdbVersion: Int) -> Bool? {
        if let valkeyVersion = self.valkeyVersion {
            guard let (major, _) = Self.majorMinor(valkeyVersion) else { return nil }
            return rdbVersion <= 11 || (major >= 9 && rdbVersion == 80)
        }
        guard let highest = Self.highestRDBVersion(redisVersion: self.redisVersion) else { return nil }
        return rdbVersion <= highest
    }

    /// The newest RDB version a Redis server of `redisVersion` loads (`RDB_VERSION` in its rdb.h).
    ///
    /// Versions after the last one listed get the last listed value: a newer server loads at least that,
    /// and underestimating only sends a restore to the `RESTORE` path.
    package static func highestRDBVersion(redisVersion: String) -> Int? {
        guard let (major, minor) = self.majorMinor(redisVersion) else { return nil }
        let table: [(major: Int, minor: Int, rdb: Int)] = [
            (2, 6, 6), (3, 2, 7), (4, 0, 8), (5, 0, 9), (7, 0, 10), (7, 2, 11), (7, 4, 12), (8, 6, 13), (8, 8, 14),
        ]
        var result: Int?
        for entry in table where (major, minor) >= (entry.major, entry.minor) {
            result = entry.rdb
        }
        return result
    }

    private static func majorMinor(_ version: String) -> (Int, Int)? {
        let parts = version.split(separator: ".")
        guard parts.count >= 2, let major = Int(parts[0]), let minor = Int(parts[1]) else { return nil }
        return (major, minor)
    }
}
