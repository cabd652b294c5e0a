/// Every kind of job Coffer runs, and what each one means for the resource it occupies.
///
/// The one catalogue of job kinds: handlers name their kind from here, and "what runs on this resource"
/// (`Activity`) is derived from the kind in one place, so a busy error or a task name is never decided by
/// comparing strings in several files.
package enum JobKind: String, Sendable, CaseIterable {
    /// A DCS backup: pulls an RDB snapshot of the instance (resource: the instance).
    case dcsBackup = "dcs.backup"
    /// A DCS restore into the instance (resource: the instance).
    case dcsRestore = "dcs.restore"
    /// Removes a deleted DCS backup's file (resource: the backup).
    case dcsBackupDelete = "dcs.backup.delete"
    /// Removes a deleted DCS instance's backup files (resource: the instance).
    case dcsInstanceDelete = "dcs.instance.delete"
    /// A consistent DDM backup of every data node (resource: the instance).
    case ddmBackup = "ddm.backup"
    /// Removes a DDM backup's files (resource: the backup).
    case ddmBackupDelete = "ddm.backup.delete"
    /// A DDM instance creation, recorded as finished at once (Coffer instances have nothing to provision).
    case ddmInstanceCreate = "ddm.instance.create"
    /// Drops a DDM instance's shard databases on the data nodes, then the instance (resource: the instance).
    case ddmInstanceDelete = "ddm.instance.delete"
    /// A DDM recovery into an existing instance: loads a backup cut into its data nodes, replays archived binlogs,
    /// then gives it the source's schemas (resource: the target instance).
    case ddmRestore = "ddm.restore"
    /// A DDM metadata recovery: gives an instance a backup's schemas over data nodes that already hold the data
    /// (resource: the target instance).
    case ddmMetadataRestore = "ddm.metadata.restore"
    /// Removes abandoned temporary blob writes (resource: the blob store).
    case blobSweep = "blob.sweep"

    /// What the job does to the resource it occupies.
    package var activity: Activity {
        switch self {
        case .dcsBackup, .ddmBackup: .backup
        case .dcsRestore, .ddmRestore, .ddmMetadataRestore: .restore
        case .dcsBackupDelete, .dcsInstanceDelete, .ddmBackupDelete, .ddmInstanceDelete: .delete
        case .ddmInstanceCreate: .create
        case .blobSweep: .maintenance
        }
    }
}

/// What occupies a resource while a job on it is queued or running: the single answer to "what runs on
/// this instance", from which each service derives its busy error and its task name.
package enum Activity: String, Sendable, CaseIterable {
    case backup, restore, delete, create, maintenance
}

extension Job {
    /// The job's kind, when it is one Coffer knows (a newer node may have queued a kind this one does not).
    package var knownKind: JobKind? { JobKind(rawValue: self.kind) }

    /// What the job does to its resource; `.maintenance` for an unknown kind.
    package var activity: Activity { self.knownKind?.activity ?? .maintenance }
}
