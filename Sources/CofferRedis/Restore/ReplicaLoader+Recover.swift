import Logging

extension ReplicaLoader {
    /// After Coffer died during ``load(_:onLink:progress:)``: tells whether the target finished loading our
    /// snapshot, and leaves it a master again (`REPLICAOF NO ONE`) in every case.
    ///
    /// Semantics, from the checkpointed ``ReplicaLink``:
    /// - The target adopts the replication id we sent in `+FULLRESYNC` only once it has loaded the whole file;
    ///   `REPLICAOF NO ONE` then moves it to `master_replid2`. So our id as `master_replid` (still a replica of
    ///   our advertised address) or as `master_replid2` (already detached) → ``ReplicaRecovery/loaded``: the
    ///   restore had completed and only the clean-up was missing.
    /// - Otherwise → ``ReplicaRecovery/notLoaded(datasetUnchanged:)``, `true` when the target's own
    ///   pre-restore id is its `master_replid2` (it was detached before loading anything) or still its
    ///   `master_replid` (`REPLICAOF` was never applied): its old dataset is in place, nothing to undo.
    /// - A target still loading the received file refuses `REPLICAOF NO ONE` with `-LOADING`; the call retries
    ///   until `timeout` and then throws, so the caller runs recovery again later.
    /// - `NO ONE` is sent whatever the target replicates from: the probe refused targets that were replicas
    ///   already, so a replication link found now was made by the restore. It is harmless on a master.
    /// - `master_replid2` survives only until the next role change or restart; a recovery run after those
    ///   reports `notLoaded(datasetUnchanged: false)`: unknown, never a false `loaded`.
    ///
    /// - Throws: ``RedisError`` when the target cannot be reached or refuses `REPLICAOF NO ONE`.
    package static func recover(target: RedisEndpoint, link: ReplicaLink, timeout: Duration = .seconds(30), logger: Logger) async throws
        -> ReplicaRecovery
    {
        try await RedisConnection.withConnection(to: target, timeout: timeout, logger: logger) { connection in
            try await Self.replicaofNoOne(connection, deadline: ContinuousClock.now + timeout)
            let info = try await connection.info("replication")
            let replid = info.value("master_replid", in: "replication")
            let replid2 = info.value("master_replid2", in: "replication")
            if replid == link.replicationID || replid2 == link.replicationID {
                return .loaded
            }
            return .notLoaded(datasetUnchanged: replid == link.targetReplicationID || replid2 == link.targetReplicationID)
        }
    }
}
