import CofferCore
import Foundation
import Logging

/// DCS instances: a Coffer instance adopts a Redis server that already runs. Adopting checks that Coffer can
/// reach and log in to it; showing reads its live facts; deleting is a job that removes its backups' files.
package struct DCSInstanceOperations: Sendable {
    let store: any DCSStore
    let inspector: RedisInspector
    let context: OperationContext
    /// Rung after a policy is stored, so the backup scheduler looks at it now rather than at its next check.
    let policyChanged: @Sendable () -> Void

    package init(
        store: any DCSStore, inspector: RedisInspector, context: OperationContext, policyChanged: @escaping @Sendable () -> Void = {}
    ) {
        self.store = store
        self.inspector = inspector
        self.context = context
        self.policyChanged = policyChanged
    }

    /// Adopts the deployment `instance` names by any one of its nodes (a single server, a master/standby pair, a
    /// cluster), once Coffer has logged in to it and read its topology.
    /// - Throws: `DCS.4060` for a taken name, `DCS.4080`/`DCS.4800` when the server refuses or cannot be reached.
    package func create(_ instance: DCSInstance) async throws {
        guard try await !self.store.instanceNameExists(projectID: instance.projectID, name: instance.name) else { throw DCSError.nameExists }
        // Adopting means Coffer can reach and log in to the server; say so now rather than at the first backup.
        // Any node's address will do: the topology read from it names every other node.
        var instance = instance
        instance.topology = try await self.inspector.topology(of: instance, now: self.context.clock())
        _ = try await self.inspector.facts(of: instance)
        try await self.store.insertInstance(instance)
        if instance.backupPolicy != nil { self.policyChanged() }
    }

    /// The instance in the project, or 404 `DCS.3022` (also for another project's instance or a malformed id).
    package func instance(projectID: String, id: String) async throws -> DCSInstance {
        guard Identifiers.isUUID(id), let instance = try await self.store.instance(projectID: projectID, id: id.lowercased()) else {
            throw DCSError.instanceNotFound
        }
        return instance
    }

    /// A page of instances with their live facts (read concurrently, each bounded by the inspector's timeout)
    /// and what runs on each (one query for the page).
    package func list(projectID: String, filter: DCSInstanceFilter) async throws -> Page<DCSInstanceView> {
        let page = try await self.store.instances(projectID: projectID, filter: filter)
        let activities = try await self.context.activity.activities(projectID: projectID, resourceIDs: page.items.map(\.id))
        let facts = await withTaskGroup(of: (Int, RedisFacts?).self) { group in
            for (index, instance) in page.items.enumerated() {
                group.addTask { (index, try? await self.inspector.facts(of: instance)) }
            }
            var facts = [RedisFacts?](repeating: nil, count: page.items.count)
            for await (index, fact) in group { facts[index] = fact }
            return facts
        }
        let views = zip(page.items, facts).map { instance, fact in
            DCSInstanceView(instance: instance, facts: fact, activity: activities[instance.id])
        }
        return Page(items: views, total: page.total)
    }

    /// One instance with its live facts, its topology read again (and stored), and its activity.
    package func show(projectID: String, id: String) async throws -> DCSInstanceView {
        let stored = try await self.instance(projectID: projectID, id: id)
        var instance = stored
        async let facts = try? await self.inspector.facts(of: stored)
        async let topology = try? await self.inspector.topology(of: stored, now: self.context.clock())
        let activity = try await self.context.activity.activity(projectID: projectID, resourceID: instance.id)
        if let read = await topology {
            // Stored only when the deployment changed (a show is a read; `readAt` alone is no change).
            var known = stored.topology
            known?.readAt = read.readAt
            if known != read { try await self.store.updateInstanceTopology(projectID: projectID, id: instance.id, topology: read) }
            instance.topology = read
        }
        return DCSInstanceView(instance: instance, facts: await facts, activity: activity)
    }

    /// Applies `changes`; a new port is checked against the server before it is kept.
    package func update(projectID: String, id: String, _ changes: DCSInstanceChanges) async throws {
        var instance = try await self.instance(projectID: projectID, id: id)
        if let name = changes.name, name != instance.name {
            guard try await !self.store.instanceNameExists(projectID: projectID, name: name) else { throw DCSError.nameExists }
            instance.name = name
        }
        if let description = changes.description { instance.description = description }
        instance.extra.merge(changes.extra) { _, new in new }
        let now = self.context.clock()
        if let policy = changes.backupPolicy {
            instance.backupPolicy = StoredBackupPolicy(
                id: instance.backupPolicy?.id ?? Identifiers.uuid(), policy: policy, createdAt: instance.backupPolicy?.createdAt ?? now,
                updatedAt: now)
        }
        if let port = changes.port, port != instance.port {
            // The adopted server now answers elsewhere: check before switching.
            instance.port = port
            _ = try await self.inspector.facts(of: instance)
        }
        instance.updatedAt = now
        try await self.store.updateInstance(instance)
        if changes.backupPolicy != nil { self.policyChanged() }
    }

    /// Deletes the instance: it disappears at once, its backups are marked `deleted` (their links stop working)
    /// and a `dcs.instance.delete` job removes their files, also after a crash.
    /// - Throws: 400 `DCS.4026` while any task runs on the instance (Huawei's answer to a state change it refuses).
    package func delete(projectID: String, id: String, logger: Logger) async throws {
        let instance = try await self.instance(projectID: projectID, id: id)
        let job = DCSInstanceDeleteJob.job(for: instance, now: self.context.clock())
        if case .busy = try await self.context.jobs.enqueueIfIdle(job) { throw DCSError.stateForbids }
        // The job is durable from here: should the process die now, it marks the records itself when it runs.
        _ = try await self.store.deleteInstance(projectID: projectID, id: instance.id, at: self.context.clock())
        self.context.wakeWorker()
        logger.info("DCS instance deleted", metadata: ["instance.id": "\(instance.id)", "job.id": "\(job.id)"])
    }
}
