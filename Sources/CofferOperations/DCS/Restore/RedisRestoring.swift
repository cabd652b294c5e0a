import CofferCore

/// The seam between the restore job (which owns the restore record and its status) and the restore engine
/// (which owns the target Redis while it overwrites it).
///
/// The job persists what the engine hands it as checkpoints; after a crash the job's next run gives the
/// last checkpoint back to ``recover(_:from:)``, which puts the target back as it was.
package protocol RedisRestoring: Sendable {
    /// Overwrites the whole dataset of `request.target` with the backup.
    ///
    /// Before it first changes the target, and whenever what a rollback needs changes (fence applied, safety
    /// snapshot stored, writing started, …), it passes a checkpoint to `save`, which persists it before it
    /// returns.
    /// - Throws: ``RedisRestoreError``. When it throws, the target has been put back as it was — except when the
    ///   task was cancelled (the process going away): then nothing more is sent to the target, and the job's next
    ///   run puts it back through ``recover(_:from:)`` with the last checkpoint saved.
    func restore(
        _ request: RedisRestoreRequest,
        save: @escaping @Sendable (RestoreCheckpoint) async throws -> Void,
        progress: @escaping @Sendable (Double) async -> Void
    ) async throws -> RestoreSummary

    /// After the process died during ``restore(_:save:progress:)``: undoes what the checkpoint says was done
    /// (fence, partial data, replication link, temporaries) or, when the restore had in fact completed,
    /// says so.
    func recover(_ request: RedisRestoreRequest, from checkpoint: RestoreCheckpoint) async throws -> RestoreRecovery
}

/// What to restore where.
package struct RedisRestoreRequest: Sendable {
    /// The restore record's id: names temporaries (safety snapshot, fence user) so a recovery finds them.
    package var restoreID: String
    /// The backup to put back.
    package var backup: DCSBackupRecord
    /// Where the backup's file lives in the blob store.
    package var backupBlobKey: String
    /// The instance whose Redis is overwritten (the backup's own instance, or another one for a migration task).
    package var target: DCSInstance

    package init(restoreID: String, backup: DCSBackupRecord, backupBlobKey: String, target: DCSInstance) {
        self.restoreID = restoreID
        self.backup = backup
        self.backupBlobKey = backupBlobKey
        self.target = target
    }
}

/// The engine's state at one point of a restore, as JSON the job stores verbatim: opaque outside the engine.
package struct RestoreCheckpoint: Sendable, Equatable {
    package var json: String

    package init(json: String) { self.json = json }
}

/// How a recovery ended.
package enum RestoreRecovery: Sendable, Equatable {
    /// The target holds again what it held before the restore: the record ends `failed`.
    case rolledBack
    /// The restore had completed before the crash (only the last clean-up was missing): the record ends `succeed`.
    case completed
}

/// What a finished restore did.
package struct RestoreSummary: Sendable, Equatable {
    /// How the data went in.
    package enum Path: String, Sendable { case replication, restoreCommands = "restore" }

    package var path: Path
    package var keys: Int

    package init(path: Path, keys: Int) {
        self.path = path
        self.keys = keys
    }
}

/// Why a restore failed, and the `dcs.08.000x` code its record carries.
package struct RedisRestoreError: Error, Sendable, Equatable, CustomStringConvertible {
    package var code: BackupFailure
    /// For the log and the job record: names the key and type when a record was refused. Never a secret.
    package var message: String

    package init(_ code: BackupFailure, _ message: String) {
        self.code = code
        self.message = message
    }

    package var description: String { "\(self.code.rawValue): \(self.message)" }
}
