import Foundation

/// Persistence of DCS restore records (and the migration tasks that are restores into another instance), always
/// scoped by project. Part of every `DCSStore`: a restore reads the instance and backup rows beside it.
package protocol DCSRestoreStore: Sendable {
    /// The backup with this id in the project, whatever its instance (a migration task names only the backup).
    func backup(projectID: String, id: String) async throws -> DCSBackupRecord?
    /// Inserts a restore record and the job that runs it, atomically.
    /// - Returns: `.busy` with the occupying job (and nothing inserted) when another task runs on the target.
    func insertRestore(_ record: DCSRestoreRecord, job: Job) async throws -> EnqueueResult
    func restore(projectID: String, id: String) async throws -> DCSRestoreRecord?
    /// Writes status, progress, error code, checkpoint and `updated_at` (what never changes is left alone).
    func updateRestore(_ record: DCSRestoreRecord) async throws
    /// Records progress of a running restore (a narrow write, so it never overwrites a final state).
    func updateRestoreProgress(projectID: String, id: String, progress: DCSRestoreRecord.Progress, at: Date) async throws
    /// Stores the engine's checkpoint of a running restore; returns once it is durable.
    func saveRestoreCheckpoint(projectID: String, id: String, checkpoint: String, at: Date) async throws
    /// An instance's restores (migration tasks excluded) created in the window, newest first, with the exact total.
    func restores(_ query: DCSRestoreQuery) async throws -> Page<DCSRestoreRecord>
    /// The project's migration tasks, newest first; `name` matches a part of the task name, case-insensitively.
    func migrationTasks(projectID: String, name: String?, offset: Int, limit: Int) async throws -> Page<DCSRestoreRecord>
    /// Removes the finished migration tasks among `ids` (a running one stays).
    /// - Returns: the ids removed.
    func deleteMigrationTasks(projectID: String, ids: [String]) async throws -> [String]
}
