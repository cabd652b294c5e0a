import CofferCore
import Foundation
import Logging

/// DDM consistent backups: start one (a `ddm.backup` job, also queued by the daily scheduler), show and list
/// them with their instance's state, delete one (a `ddm.backup.delete` job), and find the data nodes of the
/// backup usable at a point in time.
package struct DDMBackupOperations: Sendable {
    let store: any DDMStore
    let instances: DDMInstanceOperations
    let context: OperationContext

    package init(store: any DDMStore, instances: DDMInstanceOperations, context: OperationContext) {
        self.store = store
        self.instances = instances
        self.context = context
    }

    /// Records a `creating` backup and its job in one transaction; 409 `DBS.200019` when another task runs on
    /// the instance (the unique index on active jobs decides, also between racing requests or nodes).
    package func create(projectID: String, instanceID: String, name: String?, description: String, logger: Logger) async throws -> (DDMBackup, Job) {
        let instance = try await self.instances.instance(projectID: projectID, id: instanceID)
        let (backup, job) = try await self.enqueue(instance: instance, name: name, description: description, backupType: "metadata")
        logger.info("DDM backup queued", metadata: ["ddm.backup.id": "\(backup.id)", "job.id": "\(job.id)"])
        return (backup, job)
    }

    /// The one way a DDM backup starts, on request or from the scheduler.
    package func enqueue(instance: DDMInstance, name: String?, description: String, backupType: String) async throws -> (DDMBackup, Job) {
        let now = self.context.clock()
        let millis = WireTime.epochMilliseconds(now) % 1000
        let backup = DDMBackup(
            id: Identifiers.ddm(suffix: "br09"), projectID: instance.projectID, instanceID: instance.id, instanceName: instance.name,
            name: name ?? "Backup-\(instance.name)-\(WireTime.compact(now))\(String(format: "%03d", millis))",
            description: description, backupType: backupType, status: .creating, size: 0,
            relatedNodes: try await self.relatedNodes(of: instance), files: [], metadataKey: nil, metadataSHA256: nil,
            error: nil, createdAt: now, updatedAt: now)
        let job = Job.new(
            kind: JobKind.ddmBackup.rawValue, projectID: instance.projectID, resourceID: instance.id,
            payload: DDMJobPayload(backupID: backup.id, instanceID: instance.id, instanceName: instance.name).json, now: now)
        if case .busy = try await self.store.insertBackup(backup, job: job) { throw DDMError.busy }
        self.context.wakeWorker()
        return (backup, job)
    }

    /// The data nodes an instance's schemas use, in first-use order.
    private func relatedNodes(of instance: DDMInstance) async throws -> [DDMBackup.RelatedNode] {
        let schemas = try await self.store.schemas(projectID: instance.projectID, instanceID: instance.id)
        var ids: [String] = []
        for schema in schemas {
            for part in schema.parts where !ids.contains(part.nodeID) { ids.append(part.nodeID) }
        }
        let nodes = try await self.store.dataNodes(projectID: instance.projectID, ids: ids)
        return ids.map { DDMBackup.RelatedNode(id: $0, name: nodes[$0]?.name ?? "") }
    }

    /// A visible backup of the project (optionally of one instance), or 404 `DBS.200003`.
    package func backup(projectID: String, instanceID: String? = nil, id: String) async throws -> DDMBackup {
        guard Identifiers.isDDM(id, suffix: "br09") else { throw DDMError.invalidParameter("backup_id", "Expected 32 hex characters and br09.") }
        if let instanceID { _ = try await self.instances.instance(projectID: projectID, id: instanceID) }
        guard let backup = try await self.store.backup(projectID: projectID, id: id), backup.status != .deleted,
            instanceID == nil || backup.instanceID == instanceID
        else { throw DDMError.backupNotFound }
        return backup
    }

    /// What a listed backup says about its instance.
    package enum InstanceState: Sendable {
        case deleted
        case idle
        case busy(Activity)
    }

    /// Matching backups, newest first, each with its instance's state (two queries for the whole page).
    package func list(_ query: DDMBackupQuery) async throws -> Page<(DDMBackup, InstanceState)> {
        let page = try await self.store.backups(query)
        let instanceIDs = Array(Set(page.items.map(\.instanceID)))
        let live = try await self.store.liveInstanceIDs(projectID: query.projectID, among: instanceIDs)
        let activities = try await self.context.activity.activities(projectID: query.projectID, resourceIDs: Array(live))
        return Page(
            items: page.items.map { backup in
                let state: InstanceState =
                    if !live.contains(backup.instanceID) { .deleted } else if let activity = activities[backup.instanceID] { .busy(activity) } else { .idle }
                return (backup, state)
            }, total: page.total)
    }

    /// Queues the deletion of the backup's files; 409 `DBS.200019` while the backup is still being made. A delete
    /// already queued answers with its own job (the same request again).
    package func delete(projectID: String, id: String, logger: Logger) async throws -> Job {
        let backup = try await self.backup(projectID: projectID, id: id)
        guard backup.status != .creating else { throw DDMError.busy }
        let job = Job.new(
            kind: JobKind.ddmBackupDelete.rawValue, projectID: projectID, resourceID: backup.id,
            payload: DDMJobPayload(backupID: backup.id, instanceID: backup.instanceID, instanceName: backup.instanceName).json,
            maxAttempts: 3, now: self.context.clock())
        switch try await self.context.jobs.enqueueIfIdle(job) {
        case .busy(let occupant): return occupant
        case .enqueued:
            self.context.wakeWorker()
            logger.info("DDM backup delete queued", metadata: ["ddm.backup.id": "\(backup.id)", "job.id": "\(job.id)"])
            return job
        }
    }
}
