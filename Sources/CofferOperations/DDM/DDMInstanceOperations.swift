import CofferCore
import Foundation
import Logging

/// DDM instances and their schemas: create (recorded as a finished job: nothing to provision), show with what
/// runs on them, delete (a `ddm.instance.delete` job drops the shard databases), and schemas spread over data nodes.
package struct DDMInstanceOperations: Sendable {
    let store: any DDMStore
    let inspector: MySQLInspector
    let context: OperationContext

    package init(store: any DDMStore, inspector: MySQLInspector, context: OperationContext) {
        self.store = store
        self.inspector = inspector
        self.context = context
    }

    /// Stores the instance and a finished `ddm.instance.create` job (its id answers `GET /v3/{project_id}/jobs/{id}`).
    package func create(_ instance: DDMInstance, logger: Logger) async throws -> Job {
        guard try await !self.store.instanceNameExists(projectID: instance.projectID, name: instance.name) else {
            throw DDMError.nameExists("instance")
        }
        try await self.store.insertInstance(instance)
        let now = self.context.clock()
        var job = Job.new(
            kind: JobKind.ddmInstanceCreate.rawValue, projectID: instance.projectID, resourceID: instance.id,
            payload: DDMJobPayload(instanceID: instance.id, instanceName: instance.name).json, now: now)
        job.status = .succeeded
        job.startedAt = now
        job.finishedAt = now
        try await self.context.jobs.enqueue(job)
        logger.info("DDM instance created", metadata: ["ddm.instance.id": "\(instance.id)"])
        return job
    }

    /// The instance, or 400 `DBS.280001` for a malformed id and 404 `DBS.200002` for an unknown one (also another project's).
    package func instance(projectID: String, id: String) async throws -> DDMInstance {
        guard Identifiers.isDDM(id, suffix: "in09") else { throw DDMError.invalidParameter("instance_id", "Expected 32 hex characters and in09.") }
        guard let instance = try await self.store.instance(projectID: projectID, id: id) else { throw DDMError.instanceNotFound }
        return instance
    }

    /// A page of instances, each with what runs on it (one query for the page).
    package func list(projectID: String, offset: Int, limit: Int) async throws -> Page<(DDMInstance, Activity?)> {
        let page = try await self.store.instances(projectID: projectID, offset: offset, limit: limit)
        let activities = try await self.context.activity.activities(projectID: projectID, resourceIDs: page.items.map(\.id))
        return Page(items: page.items.map { ($0, activities[$0.id]) }, total: page.total)
    }

    /// One instance with what runs on it.
    package func show(projectID: String, id: String) async throws -> (DDMInstance, Activity?) {
        let instance = try await self.instance(projectID: projectID, id: id)
        return (instance, try await self.context.activity.activity(projectID: projectID, resourceID: instance.id))
    }

    /// Queues the instance's deletion: the job drops the shards' physical databases when `dropData` (reference 3.9:
    /// `delete_rds_data` absent or true), then marks the instance deleted. Backups stay.
    /// - Throws: 409 `DBS.200019` while another task runs on the instance.
    package func delete(projectID: String, id: String, dropData: Bool, logger: Logger) async throws -> Job {
        let instance = try await self.instance(projectID: projectID, id: id)
        let job = Job.new(
            kind: JobKind.ddmInstanceDelete.rawValue, projectID: projectID, resourceID: instance.id,
            payload: DDMJobPayload(instanceID: instance.id, instanceName: instance.name, dropData: dropData).json, maxAttempts: 3,
            now: self.context.clock())
        if case .busy = try await self.context.jobs.enqueueIfIdle(job) { throw DDMError.busy }
        self.context.wakeWorker()
        logger.info("DDM instance delete queued", metadata: ["ddm.instance.id": "\(instance.id)", "job.id": "\(job.id)"])
        return job
    }

    /// What `POST …/databases` asks for one schema, once the body is parsed.
    package struct SchemaRequest: Sendable {
        package struct Account: Sendable {
            package var nodeID: String
            package var user: String
            package var password: String
            package init(nodeID: String, user: String, password: String) {
                self.nodeID = nodeID
                self.user = user
                self.password = password
            }
        }
        package var name: String
        package var shardMode: String
        package var shardNumber: Int
        package var accounts: [Account]

        package init(name: String, shardMode: String, shardNumber: Int, accounts: [Account]) {
            self.name = name
            self.shardMode = shardMode
            self.shardNumber = shardNumber
            self.accounts = accounts
        }
    }

    /// Creates each schema: checks every account on its node first (a typo on the last node creates nothing
    /// anywhere), creates the shard databases (`<schema>_0000` …, round-robin), and keeps the accounts, sealed.
    /// A failure part-way drops what this call created.
    package func createSchemas(projectID: String, instanceID: String, _ requests: [SchemaRequest], logger: Logger) async throws -> [DDMSchema] {
        let instance = try await self.instance(projectID: projectID, id: instanceID)
        let existing = Set(try await self.store.schemas(projectID: instance.projectID, instanceID: instance.id).map(\.name))
        var created: [DDMSchema] = []
        for request in requests {
            guard !existing.contains(request.name) else { throw DDMError.nameExists("schema") }
            created.append(try await self.createSchema(request, instance: instance))
            logger.info("DDM schema created", metadata: ["ddm.instance.id": "\(instance.id)", "ddm.schema": "\(request.name)"])
        }
        return created
    }

    private func createSchema(_ request: SchemaRequest, instance: DDMInstance) async throws -> DDMSchema {
        let nodes = try await self.store.dataNodes(projectID: instance.projectID, ids: request.accounts.map(\.nodeID))
        var accounts: [(DataNode, SchemaRequest.Account)] = []
        for account in request.accounts {
            guard let node = nodes[account.nodeID] else { throw DDMError.unknownDataNode(account.nodeID) }
            guard !accounts.contains(where: { $0.0.id == node.id }) else { throw DDMError.duplicateDataNodes }
            accounts.append((node, account))
        }
        let layout = DDMSchema.layout(schema: request.name, shardNumber: request.shardNumber, nodeCount: accounts.count)
        for (node, account) in accounts { try await self.inspector.run(["SELECT 1"], on: node, user: account.user, password: account.password) }
        var done: [Int] = []
        do {
            for (index, (node, account)) in accounts.enumerated() {
                try await self.inspector.run(
                    layout[index].map { "CREATE DATABASE `\($0)` CHARACTER SET utf8mb4" }, on: node, user: account.user, password: account.password)
                done.append(index)
            }
        } catch {
            for index in done {
                let (node, account) = accounts[index]
                try? await self.inspector.run(
                    layout[index].map { "DROP DATABASE IF EXISTS `\($0)`" }, on: node, user: account.user, password: account.password)
            }
            throw error
        }
        let schema = DDMSchema(
            projectID: instance.projectID, instanceID: instance.id, name: request.name, shardMode: request.shardMode,
            shardNumber: request.shardNumber,
            parts: accounts.enumerated().map { index, pair in
                DDMSchema.NodePart(nodeID: pair.0.id, adminUser: pair.1.user, adminPassword: pair.1.password, databases: layout[index])
            }, createdAt: self.context.clock())
        try await self.store.insertSchema(schema)
        return schema
    }

    /// The instance's schemas with the data nodes they use (nil for a node no longer registered), in two queries.
    package func schemas(projectID: String, instanceID: String) async throws -> [(DDMSchema, [String: DataNode])] {
        let instance = try await self.instance(projectID: projectID, id: instanceID)
        let schemas = try await self.store.schemas(projectID: instance.projectID, instanceID: instance.id)
        let nodes = try await self.store.dataNodes(projectID: instance.projectID, ids: schemas.flatMap { $0.parts.map(\.nodeID) })
        return schemas.map { ($0, nodes) }
    }
}
