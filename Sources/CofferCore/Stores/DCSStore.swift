import Foundation

/// Persistence of DCS instances, backup and restore records, always scoped by project.
package protocol DCSStore: DCSRestoreStore {
    func insertInstance(_ instance: DCSInstance) async throws
    /// The instance if it exists in that project and is not deleted.
    func instance(projectID: String, id: String) async throws -> DCSInstance?
    func instanceNameExists(projectID: String, name: String) async throws -> Bool
    func instances(projectID: String, filter: DCSInstanceFilter) async throws -> Page<DCSInstance>
    func updateInstance(_ instance: DCSInstance) async throws
    /// Stores the topology just read (a narrow write: it never undoes a concurrent update of the instance's settings).
    func updateInstanceTopology(projectID: String, id: String, topology: DCSTopology) async throws
    /// Marks the instance deleted (it is no longer visible) and its backups `deleted`, in one transaction.
    /// Idempotent (the delete job runs it again after a crash).
    /// - Returns: the blob keys of every backup the instance ever had, shard files included, for the caller to remove
    ///   (removing a gone file is a no-op).
    func deleteInstance(projectID: String, id: String, at: Date) async throws -> [String]

    func insertBackup(_ record: DCSBackupRecord) async throws
    /// Inserts a backup record and the job that makes it, atomically.
    /// - Returns: `.busy` with the occupying job (and nothing inserted) when another task runs on the resource.
    func insertBackup(_ record: DCSBackupRecord, job: Job) async throws -> EnqueueResult
    func backup(projectID: String, instanceID: String, id: String) async throws -> DCSBackupRecord?
    func updateBackup(_ record: DCSBackupRecord) async throws
    /// Writes `record` only if the stored status is one of `expected`: the compare-and-set by which a backup job and the
    /// recovery of its expired lease (another node, maybe) never both decide how the backup ended.
    /// - Returns: whether it was written.
    func updateBackup(_ record: DCSBackupRecord, ifStatusIn expected: Set<DCSBackupRecord.Status>) async throws -> Bool
    /// Records progress of a running backup (a narrow write, so it never overwrites a final state).
    func updateBackupProgress(projectID: String, id: String, progress: DCSBackupRecord.Progress, at: Date) async throws
    /// A page, newest first, with the exact number of matching records (every status, `deleted` included);
    /// nil when the instance does not exist in that project or is deleted.
    func backups(_ query: DCSBackupQuery) async throws -> Page<DCSBackupRecord>?
}

/// Filters of `GET /v2/{project_id}/instances`.
package struct DCSInstanceFilter: Sendable, Equatable {
    package var instanceID: String?
    package var name: String?
    package var nameEqual: Bool
    package var status: String?
    package var offset: Int
    package var limit: Int

    package init(instanceID: String? = nil, name: String? = nil, nameEqual: Bool = false, status: String? = nil, offset: Int = 0, limit: Int = 10) {
        self.instanceID = instanceID
        self.name = name
        self.nameEqual = nameEqual
        self.status = status
        self.offset = offset
        self.limit = limit
    }
}
