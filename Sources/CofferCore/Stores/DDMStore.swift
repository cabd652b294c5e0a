import Foundation

/// Persistence of DDM data nodes, instances, schemas and backups, always scoped by project.
package protocol DDMStore: Sendable {
    func insertDataNode(_ node: DataNode) async throws
    func dataNode(projectID: String, id: String) async throws -> DataNode?
    func dataNodes(projectID: String, offset: Int, limit: Int) async throws -> Page<DataNode>
    /// Whether a schema of a live instance uses the node.
    func dataNodeInUse(projectID: String, id: String) async throws -> Bool
    func deleteDataNode(projectID: String, id: String) async throws

    func insertInstance(_ instance: DDMInstance) async throws
    /// The instance if it exists in that project and is not deleted.
    func instance(projectID: String, id: String) async throws -> DDMInstance?
    func instanceNameExists(projectID: String, name: String) async throws -> Bool
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
    /// - Returns: false (and inserts nothing) when another task already occupies the job's resource.
    func insertBackup(_ backup: DDMBackup, job: Job) async throws -> Bool
    func backup(projectID: String, id: String) async throws -> DDMBackup?
    func updateBackup(_ backup: DDMBackup) async throws
    /// Matching backups, newest first; `total` counts every match.
    func backups(_ query: DDMBackupQuery) async throws -> Page<DDMBackup>
    /// The newest backup of the instance of `backupType`, any status but `deleted`.
    func latestBackup(projectID: String, instanceID: String, backupType: String) async throws -> DDMBackup?
}
