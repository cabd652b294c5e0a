/// Why the replication fast path did not load the RDB.
///
/// The three cases tell the caller what it may do next: after ``notApplicable(_:_:)`` nothing on the target
/// changed, so it falls back to `RESTORE`; after ``rolledBack(_:)`` the target is a master again and still
/// holds its old dataset (checked, see ``ReplicaLoader``), so the restore ends `failed` with nothing to undo;
/// after ``unverified(_:)`` the loader could not confirm either (the target died, or stayed unreachable
/// while the loader tried to detach it), and the caller must treat the target's state as unknown.
package enum ReplicaLoadError: Error, Sendable, Equatable {
    /// Why the fast path cannot be used on this target.
    package enum Reason: String, Sendable, Equatable {
        /// `cluster_enabled:1`: `REPLICAOF` is not allowed in cluster mode.
        case clusterMode
        /// The target already replicates another master; making it ours would break that.
        case alreadyReplica
        /// The RDB's version is newer than the newest the target's server can load.
        case rdbVersionTooNew
        /// `INFO` did not say which server and version the target runs (or lacks `master_replid`, < 4.0).
        case unknownServer
        /// `REPLICAOF` was refused (`NOPERM`, renamed or unknown command, …).
        case replicaofRefused
        /// The target never connected to the advertised address within the connect time-out.
        case unreachable
    }

    /// The target was not changed; use the `RESTORE` path.
    case notApplicable(Reason, String)
    /// The transfer started and failed; the target is a master again and its old dataset is in place.
    case rolledBack(String)
    /// The transfer started and failed, and the loader could not confirm that the target is detached and
    /// unchanged.
    case unverified(String)
}

extension ReplicaLoadError: CustomStringConvertible {
    /// One sentence for logs and job records; never a secret.
    package var description: String {
        switch self {
        case .notApplicable(let reason, let detail): "replication restore not applicable (\(reason.rawValue)): \(detail)"
        case .rolledBack(let detail): "replication restore rolled back: \(detail)"
        case .unverified(let detail): "replication restore failed and the target could not be verified: \(detail)"
        }
    }
}

/// What a crash recovery needs to know about one replication restore; the caller checkpoints it (it is
/// `Codable`) before the loader sends `REPLICAOF`, and gives it back to ``ReplicaLoader/recover(target:link:timeout:logger:)``.
package struct ReplicaLink: Sendable, Equatable, Codable {
    /// The replication id Coffer sent in `+FULLRESYNC`: the target adopts it only once it has loaded the file.
    package var replicationID: String
    /// The target's own `master_replid` before the restore: after `REPLICAOF NO ONE` it becomes
    /// `master_replid2` if the target never loaded another master's data.
    package var targetReplicationID: String
    /// The host the target was told to replicate from.
    package var advertisedHost: String
    /// The port the target was told to replicate from.
    package var advertisedPort: Int

    package init(replicationID: String, targetReplicationID: String, advertisedHost: String, advertisedPort: Int) {
        self.replicationID = replicationID
        self.targetReplicationID = targetReplicationID
        self.advertisedHost = advertisedHost
        self.advertisedPort = advertisedPort
    }
}

/// What a recovery found.
package enum ReplicaRecovery: Sendable, Equatable {
    /// The target had loaded Coffer's snapshot completely: the restore is done.
    case loaded
    /// The target had not loaded it; `datasetUnchanged` says whether its replication ids show it still
    /// holds its own pre-restore data (they do after a transfer that never completed).
    case notLoaded(datasetUnchanged: Bool)
}

/// What a successful load did.
package struct ReplicaLoadSummary: Sendable, Equatable {
    /// Keys the target holds afterwards (sum of `INFO keyspace`).
    package var keys: Int
    /// RDB bytes sent.
    package var bytes: Int64
    /// From `REPLICAOF` to the last RDB byte written (as seen by the poller).
    package var transfer: Duration
    /// From `REPLICAOF` to `REPLICAOF NO ONE`.
    package var duration: Duration
}
