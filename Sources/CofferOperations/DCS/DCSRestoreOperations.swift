import CofferCore
import Foundation
import Logging

/// DCS restores: put a backup back into its instance (`…/restores`) or into another instance of the project (a
/// `backupfile_import` migration task). Either way one `dcs.restore` job on the target does the work, and the
/// target is the busy resource while it runs.
package struct DCSRestoreOperations: Sendable {
    let store: any DCSStore
    let instances: DCSInstanceOperations
    let context: OperationContext

    package init(store: any DCSStore, instances: DCSInstanceOperations, context: OperationContext) {
        self.store = store
        self.instances = instances
        self.context = context
    }

    /// Records a `waiting` restore of one of the instance's own backups and queues its job; returns at once.
    /// - Throws: 400 `DCS.4800` for a backup unknown to this instance, `DCS.4087` when it is not `succeed`, the busy
    ///   error of whatever runs on the instance (`DCS.4096`, `DCS.4097`, …).
    package func create(projectID: String, instanceID: String, backupID: String, remark: String?, logger: Logger) async throws
        -> DCSRestoreRecord
    {
        let instance = try await self.instances.instance(projectID: projectID, id: instanceID)
        let id = backupID.lowercased()
        guard Identifiers.isUUID(id), let backup = try await self.store.backup(projectID: instance.projectID, instanceID: instance.id, id: id)
        else { throw DCSError.unknownBackup }
        return try await self.start(backup: backup, target: instance, remark: remark, migrationTask: nil, logger: logger)
    }

    /// The instance's restores created in `[begin, end]`, newest first; `total` counts every match.
    package func list(
        projectID: String, instanceID: String, begin: Date?, end: Date?, offset: Int, limit: Int
    ) async throws -> Page<DCSRestoreRecord> {
        let instance = try await self.instances.instance(projectID: projectID, id: instanceID)
        return try await self.store.restores(
            DCSRestoreQuery(projectID: instance.projectID, instanceID: instance.id, begin: begin, end: end, offset: offset, limit: limit))
    }

    /// A migration task: restores a backup of any instance of the project into `targetInstanceID`.
    /// - Throws: 404 `DCS.3022` for an unknown target, 400 `DCS.4800` for an unknown backup, `DCS.4087`, busy errors.
    package func createMigrationTask(
        projectID: String, task: DCSRestoreRecord.MigrationTask, backupID: String, targetInstanceID: String, logger: Logger
    ) async throws -> DCSRestoreRecord {
        let target = try await self.instances.instance(projectID: projectID, id: targetInstanceID)
        let id = backupID.lowercased()
        guard Identifiers.isUUID(id), let backup = try await self.store.backup(projectID: target.projectID, id: id) else {
            throw DCSError.unknownBackup
        }
        return try await self.start(backup: backup, target: target, remark: task.description, migrationTask: task, logger: logger)
    }

    /// One migration task with its target (nil when that instance is gone since).
    /// - Throws: 400 `DCS.4070` for a malformed id, `DCS.4800` for an unknown one.
    package func migrationTask(projectID: String, id: String) async throws -> (DCSRestoreRecord, DCSInstance?) {
        let task = try await self.task(projectID: projectID, id: id)
        return (task, try await self.store.instance(projectID: projectID, id: task.instanceID))
    }

    /// A page of the project's migration tasks, newest first, each with its target (nil when gone).
    package func migrationTasks(projectID: String, name: String?, offset: Int, limit: Int) async throws
        -> Page<(DCSRestoreRecord, DCSInstance?)>
    {
        let page = try await self.store.migrationTasks(projectID: projectID, name: name, offset: offset, limit: limit)
        var targets: [String: DCSInstance?] = [:]
        var items: [(DCSRestoreRecord, DCSInstance?)] = []
        for task in page.items {
            if targets[task.instanceID] == nil { targets[task.instanceID] = .some(try await self.store.instance(projectID: projectID, id: task.instanceID)) }
            items.append((task, targets[task.instanceID] ?? nil))
        }
        return Page(items: items, total: page.total)
    }

    /// Deletes finished migration tasks (their records go; the data they restored stays).
    ///
    /// A task still running cannot be deleted: stopping a restore half-way is what its rollback is for, not a
    /// user's delete, so the whole request is refused with 400 `DCS.4957` and nothing is deleted.
    /// - Returns: the ids deleted, in the order given.
    package func deleteMigrationTasks(projectID: String, ids: [String], logger: Logger) async throws -> [String] {
        var tasks: [DCSRestoreRecord] = []
        for id in ids {
            let task = try await self.task(projectID: projectID, id: id)
            guard task.status.isFinal else { throw DCSError.taskStateForbids }
            if !tasks.contains(where: { $0.id == task.id }) { tasks.append(task) }
        }
        let deleted = Set(try await self.store.deleteMigrationTasks(projectID: projectID, ids: tasks.map(\.id)))
        logger.info("DCS migration tasks deleted", metadata: ["task.ids": "\(deleted.sorted())"])
        return tasks.map(\.id).filter(deleted.contains)
    }

    /// The checks every restore shares, then the record and its job in one transaction.
    private func start(
        backup: DCSBackupRecord, target: DCSInstance, remark: String?, migrationTask: DCSRestoreRecord.MigrationTask?, logger: Logger
    ) async throws -> DCSRestoreRecord {
        guard backup.isRestorable else { throw DCSError.backupNotRestorable }
        let now = self.context.clock()
        let record = DCSRestoreRecord.new(backup: backup, target: target, remark: remark, migrationTask: migrationTask, now: now)
        // The unique index on active jobs decides between racing requests; the busy error comes from what it found.
        if case .busy(let occupant) = try await self.store.insertRestore(record, job: try DCSRestoreJob.job(for: record, now: now)) {
            throw DCSError.busy(occupant.activity)
        }
        self.context.wakeWorker()
        logger.info(
            "DCS restore requested",
            metadata: [
                "restore.id": "\(record.id)", "backup.id": "\(backup.id)", "instance.id": "\(target.id)",
                "migration": "\(migrationTask != nil)",
            ])
        return record
    }

    /// A migration task of the project, or 400 `DCS.4070` / `DCS.4800`.
    private func task(projectID: String, id: String) async throws -> DCSRestoreRecord {
        let id = id.lowercased()
        guard Identifiers.isUUID(id) else { throw DCSError.invalidTaskID }
        guard let task = try await self.store.restore(projectID: projectID, id: id), task.migrationTask != nil else { throw DCSError.taskNotFound }
        return task
    }
}
