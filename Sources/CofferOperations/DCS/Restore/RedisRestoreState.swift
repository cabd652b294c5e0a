import CofferRedis
import Foundation

/// What a restore on the `RESTORE` path has changed on the target, saved as the checkpoint before each
/// change so that ``RedisRestoreEngine/recover(_:from:)`` can undo exactly that after a crash.
struct RedisRestoreState: Codable, Equatable {
    enum Phase: String, Codable {
        /// About to fence (the users below may be switched off already).
        case fencing
        /// Fenced; the safety snapshot is being taken (`safetyCommitted` says whether it is stored).
        case snapshotting
        /// `FLUSHALL` may have run: only the safety snapshot can give the old data back.
        case writing
        /// Every record is in: only the clean-up (unfence, temporaries) may be missing.
        case completed
        /// The fast path: the target was (or is about to be) told to replicate from Coffer (`replica_link`).
        case replicating
    }

    var phase: Phase
    /// Users that were `on` and are switched `off` (only those are switched back on).
    var disabledUsers: [String]
    /// The temporary user Coffer works as when its own user is `default` (deleted afterwards).
    var temporaryUser: String?
    /// The blob key of the safety snapshot.
    var safetyBlobKey: String
    /// Whether the safety snapshot is committed under `safetyBlobKey`.
    var safetyCommitted: Bool
    /// The target's `repl-diskless-sync-delay` before it was lowered for the safety snapshot, to put back.
    var disklessSyncDelay: String?
    /// The target's `repl-backlog-ttl` before it was lowered to 1 s for the restore, to put back (see
    /// `RedisRestoreEngine.takeSafetySnapshot`).
    var backlogTTL: String?
    /// The fast path's link, for ``ReplicaLoader/recover(target:link:timeout:logger:)``.
    var replicaLink: ReplicaLink?
    /// The target's `repl-diskless-load` before the fast path set it to `swapdb`, to put back.
    var disklessLoad: String?
    /// The server written to when it is not the instance's adopted address (a master/standby instance adopted
    /// through its standby: the restore goes to the master), so that a recovery puts back the same server.
    var targetHost: String?
    var targetPort: Int?

    enum CodingKeys: String, CodingKey {
        case phase
        case disabledUsers = "disabled_users"
        case temporaryUser = "temporary_user"
        case safetyBlobKey = "safety_blob_key"
        case safetyCommitted = "safety_committed"
        case disklessSyncDelay = "diskless_sync_delay"
        case backlogTTL = "backlog_ttl"
        case replicaLink = "replica_link"
        case disklessLoad = "diskless_load"
        case targetHost = "target_host"
        case targetPort = "target_port"
    }

    var checkpoint: RestoreCheckpoint {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        // Encoding plain strings, bools and arrays cannot fail.
        let data = (try? encoder.encode(self)) ?? Data("{}".utf8)
        return RestoreCheckpoint(json: String(decoding: data, as: UTF8.self))
    }

    init(
        phase: Phase, disabledUsers: [String], temporaryUser: String?, safetyBlobKey: String, safetyCommitted: Bool = false,
        disklessSyncDelay: String? = nil
    ) {
        self.phase = phase
        self.disabledUsers = disabledUsers
        self.temporaryUser = temporaryUser
        self.safetyBlobKey = safetyBlobKey
        self.safetyCommitted = safetyCommitted
        self.disklessSyncDelay = disklessSyncDelay
    }

    init(_ checkpoint: RestoreCheckpoint) throws {
        self = try JSONDecoder().decode(Self.self, from: Data(checkpoint.json.utf8))
    }
}
