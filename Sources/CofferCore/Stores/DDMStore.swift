import Foundation

/// Persistence of DDM data nodes, instances, schemas and backups, always scoped by project.
package protocol DDMStore: Sendable {
    func insertDataNode(_ node: DataNode) async throws
    func dataNode(projectID: String, id: String) async throws -> DataNode?
    func dataNodes(projectID: String, offset: Int, limit: Int) async throws -> Page<DataNode>
    /// The project's data nodes among `ids`, by id, in one query (absent ids are missing from the answer).
    func dataNodes(projectID: String, ids: [String]) async throws -> [String: DataNode]
    /// Whether a schema of a live instance uses the node.
    func dataNodeInUse(projectID: String, id: String) async throws -> Bool
    func deleteDataNode(projectID: String, id: String) async throws

    func insertInstance(_ instance: DDMInstance) async throws
    /// The instance if it exists in that project and is not deleted.
    func instance(projectID: String, id: String) async throws -> DDMInstance?
    func instanceNameExists(projectID: String, name: String) async throws -> Bool
    /// Which of `ids` are live (not deleted) instances of the project, in one query.
    func liveInstanceIDs(projectID: String, among ids: [String]) async throws -> Set<String>
    func instances(projectID: String, offset: Int, limit: Int) async throws -> Page<DDMInstance>
    /// Every live instance of every project (the daily backup scheduler).
    func allInstances() async throws -> [DDMInstance]
    /// Marks the instance deleted and drops its schemas.
    func deleteInstance(projectID: String, id: String, at: Date) async throws

    /// Inserts a schema and its node parts (passwords sealed) in one transaction.
    func insertSchema(_ schema: DDMSchema) async throws
    func schemas(projectID: String, instanceID: String) async throws -> [DDMSchema]

    func insertBackup(_ backup: DDMBackup) async throws
    /// Inserts a backup record and the job that makes it, atomically.
    /// - Returns: `.busy` with the occupying job (and nothing inserted) when another task runs on the resource.
    func insertBackup(_ backup: DDMBackup, job: Job) async throws -> EnqueueResult
    func backup(projectID: String, id: String) async throws -> DDMBackup?
    func updateBackup(_ backup: DDMBackup) async throws
    /// Writes `backup` only if the stored status is one of `expected` (the compare-and-set between a backup job and the
    /// recovery of its expired lease). - Returns: whether it was written.
    func updateBackup(_ backup: DDMBackup, ifStatusIn expected: Set<DDMBackup.Status>) async throws -> Bool
    /// Matching backups, newest first; `total` counts every match.
    func backups(_ query: DDMBackupQuery) async throws -> Page<DDMBackup>
    /// The newest backup of the instance of `backupType`, any status but `deleted`.
    func latestBackup(projectID: String, instanceID: String, backupType: String) async throws -> DDMBackup?
}
