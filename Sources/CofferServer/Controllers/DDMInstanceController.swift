import CofferCore
import Foundation
import Hummingbird
import Logging

/// DDM v1 instances and schemas (reference 3.9, 3.10). A Coffer DDM instance provisions nothing: it is
/// the named group of schemas whose data nodes Coffer backs up together.
struct DDMInstanceController: Sendable {
    let store: any DDMStore
    let jobs: any JobStore
    let inspector: MySQLInspector
    let clock: @Sendable () -> Date

    var routes: [Route] {
        [
            Route(.post, "/v1/{project_id}/instances", handler: self.create),
            Route(.get, "/v1/{project_id}/instances", handler: self.list),
            Route(.get, "/v1/{project_id}/instances/{instance_id}", handler: self.show),
            Route(.delete, "/v1/{project_id}/instances/{instance_id}", handler: self.delete),
            Route(.post, "/v1/{project_id}/instances/{instance_id}/databases", handler: self.createSchemas),
            Route(.get, "/v1/{project_id}/instances/{instance_id}/databases", handler: self.listSchemas),
        ]
    }

    // MARK: - Instances

    /// `POST /v1/{project_id}/instances` with `{"instance": {…}, "extend_param": {…}}` → 200 `{id, job_id}`.
    @Sendable func create(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        guard let body = try request.jsonObject() else { throw DDMError.invalidParameter("instance", "A JSON body is required.") }
        guard let spec = try body.object("instance") else { throw DDMError.invalidParameter("instance", "The field is required.") }
        let name = try spec.requiredString("name")
        try Self.validateInstanceName(name)
        let flavor = try spec.requiredString("flavor_id")
        guard let nodeNum = try spec.int("node_num"), (1...32).contains(nodeNum) else {
            throw DDMError.invalidParameter("instance.node_num", "Expected an integer from 1 to 32.")
        }
        let engine = try spec.requiredString("engine_id")
        guard let zoneValues = try spec.array("available_zones"), !zoneValues.isEmpty else {
            throw DDMError.invalidParameter("instance.available_zones", "At least one zone is required.")
        }
        let zones = try zoneValues.map { value -> String in
            guard case .string(let zone) = value else { throw DDMError.invalidParameter("instance.available_zones") }
            return zone
        }
        let vpc = try spec.requiredString("vpc_id")
        let securityGroup = try spec.requiredString("security_group_id")
        let subnet = try spec.requiredString("subnet_id")
        let timeZone = try spec.string("time_zone") ?? "UTC"
        let adminUser = try spec.string("admin_user_name")
        if let adminUser {
            guard (1...32).contains(adminUser.count), adminUser.first?.isLetter == true,
                adminUser.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") })
            else { throw DDMError.invalidParameter("instance.admin_user_name") }
        }
        if let extend = try body.object("extend_param"), let mode = try extend.string("charge_mode"), mode != "postPaid" {
            throw DDMError.invalidParameter("extend_param.charge_mode", "Coffer instances are pay-per-use (postPaid).")
        }
        guard try await !self.store.instanceNameExists(projectID: caller.project.id, name: name) else { throw DDMError.nameExists("instance") }
        let now = self.clock()
        let instance = DDMInstance(
            id: Identifiers.ddm(suffix: "in09"), projectID: caller.project.id, name: name, status: "RUNNING", flavorID: flavor,
            nodeNum: nodeNum, engineID: engine, availableZones: zones, vpcID: vpc, subnetID: subnet, securityGroupID: securityGroup,
            timeZone: timeZone, adminUserName: adminUser, enterpriseProjectID: try spec.string("enterprise_project_id"),
            createdAt: now, updatedAt: now)
        try await self.store.insertInstance(instance)
        let job = try await self.completedJob(kind: "ddm.instance.create", instance: instance)
        request.logger.info("DDM instance created", metadata: ["ddm.instance.id": "\(instance.id)"])
        return try JSONCoding.response(["id": instance.id, "job_id": job.id])
    }

    @Sendable func list(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        let offset = try request.intQuery("offset", in: 0...Int(Int32.max), default: 0)
        let limit = try request.intQuery("limit", in: 1...128, default: 10)
        let page = try await self.store.instances(projectID: caller.project.id, offset: offset, limit: limit)
        var items: [DDMInstanceDTO] = []
        for instance in page.items { items.append(DDMInstanceDTO(instance: instance, status: try await self.status(of: instance), detailed: false)) }
        return try JSONCoding.response(
            DDMInstancePageDTO(
                instances: items, instanceNum: items.count, pageNo: offset / limit + 1, pageSize: limit, totalRecord: page.total,
                totalPage: (page.total + limit - 1) / limit))
    }

    @Sendable func show(_ request: APIRequest) async throws -> Response {
        let instance = try await DDMLookup.instance(request, store: self.store)
        return try JSONCoding.response(DDMInstanceDTO(instance: instance, status: try await self.status(of: instance), detailed: true))
    }

    /// `DELETE /v1/{project_id}/instances/{instance_id}?delete_rds_data=`: absent or `true` drops the shards'
    /// physical databases on the data nodes, `false` keeps them (reference 3.9). Backups stay.
    @Sendable func delete(_ request: APIRequest) async throws -> Response {
        let instance = try await DDMLookup.instance(request, store: self.store)
        guard try await self.jobs.activeJob(projectID: instance.projectID, resourceID: instance.id) == nil else { throw DDMError.busy }
        let dropData: Bool
        switch request.query["delete_rds_data"]?.lowercased() {
        case nil, "", "true": dropData = true
        case "false": dropData = false
        default: throw DDMError.invalidParameter("delete_rds_data", "Expected true or false.")
        }
        if dropData {
            for schema in try await self.store.schemas(projectID: instance.projectID, instanceID: instance.id) {
                for part in schema.parts {
                    guard let node = try await self.store.dataNode(projectID: instance.projectID, id: part.nodeID) else { continue }
                    do {
                        try await self.inspector.run(
                            part.databases.map { "DROP DATABASE IF EXISTS `\($0)`" }, on: node, user: part.adminUser, password: part.adminPassword)
                    } catch {
                        request.logger.warning(
                            "Dropping shard databases failed", metadata: ["ddm.node.id": "\(node.id)", "error": "\(error)"])
                    }
                }
            }
        }
        try await self.store.deleteInstance(projectID: instance.projectID, id: instance.id, at: self.clock())
        let job = try await self.completedJob(kind: "ddm.instance.delete", instance: instance)
        request.logger.info("DDM instance deleted", metadata: ["ddm.instance.id": "\(instance.id)"])
        return try JSONCoding.response(["id": instance.id, "job_id": job.id])
    }

    // MARK: - Schemas

    /// `POST /v1/{project_id}/instances/{instance_id}/databases`: checks each `used_rds` account on its node,
    /// creates the shard databases (`<schema>_0000` …, spread round-robin) and keeps the accounts, sealed.
    @Sendable func createSchemas(_ request: APIRequest) async throws -> Response {
        let instance = try await DDMLookup.instance(request, store: self.store)
        guard let body = try request.jsonObject(), let items = try body.array("databases"), !items.isEmpty else {
            throw DDMError.invalidParameter("databases", "At least one schema is required.")
        }
        var created: [[String: String]] = []
        let existing = Set(try await self.store.schemas(projectID: instance.projectID, instanceID: instance.id).map(\.name))
        for (index, item) in items.enumerated() {
            guard case .object(let fields) = item else { throw DDMError.invalidParameter("databases[\(index)]") }
            let spec = JSONObject(fields, path: "databases[\(index)]", family: .ddm)
            let schema = try await self.createSchema(spec, instance: instance, existing: existing)
            created.append(["name": schema.name])
            request.logger.info("DDM schema created", metadata: ["ddm.instance.id": "\(instance.id)", "ddm.schema": "\(schema.name)"])
        }
        return try JSONCoding.response(["databases": created])
    }

    private func createSchema(_ spec: JSONObject, instance: DDMInstance, existing: Set<String>) async throws -> DDMSchema {
        let name = try spec.requiredString("name")
        let bytes = Array(name.utf8)
        guard (2...48).contains(bytes.count), let first = bytes.first, (97...122).contains(first),
            bytes.allSatisfy({ (97...122).contains($0) || (48...57).contains($0) || $0 == UInt8(ascii: "_") })
        else { throw spec.invalid("name", "2 to 48 characters: lower-case letters, digits and underscores, starting with a letter.") }
        guard !existing.contains(name) else { throw DDMError.nameExists("schema") }
        let mode = try spec.string("shard_mode") ?? "cluster"
        guard mode == "cluster" || mode == "single" else { throw spec.invalid("shard_mode", "Expected cluster or single.") }
        guard let used = try spec.array("used_rds"), !used.isEmpty else { throw spec.invalid("used_rds", "At least one data node is required.") }
        let shardNumber = try spec.int("shard_number") ?? (mode == "single" ? 1 : used.count)
        guard (1...4096).contains(shardNumber) else { throw spec.invalid("shard_number") }
        if mode == "single" && (shardNumber != 1 || used.count != 1) { throw DDMError.invalidShardsPerNode }
        guard shardNumber >= used.count else { throw DDMError.invalidShardsPerNode }
        var accounts: [(DataNode, String, String)] = []
        for (index, value) in used.enumerated() {
            guard case .object(let fields) = value else { throw spec.invalid("used_rds[\(index)]") }
            let entry = JSONObject(fields, path: "used_rds[\(index)]", family: .ddm)
            let id = try entry.requiredString("id")
            guard let node = try await self.store.dataNode(projectID: instance.projectID, id: id) else { throw DDMError.unknownDataNode(id) }
            guard !accounts.contains(where: { $0.0.id == id }) else { throw DDMError.duplicateDataNodes }
            accounts.append((node, try entry.requiredString("adminUser"), try entry.requiredString("adminPassword")))
        }
        let layout = DDMSchema.layout(schema: name, shardNumber: shardNumber, nodeCount: accounts.count)
        // Check every account first, so a typo on the last node creates nothing anywhere.
        for (node, user, password) in accounts { try await self.inspector.run(["SELECT 1"], on: node, user: user, password: password) }
        var done: [Int] = []
        do {
            for (index, (node, user, password)) in accounts.enumerated() {
                try await self.inspector.run(
                    layout[index].map { "CREATE DATABASE `\($0)` CHARACTER SET utf8mb4" }, on: node, user: user, password: password)
                done.append(index)
            }
        } catch {
            for index in done {
                let (node, user, password) = accounts[index]
                try? await self.inspector.run(layout[index].map { "DROP DATABASE IF EXISTS `\($0)`" }, on: node, user: user, password: password)
            }
            throw error
        }
        let schema = DDMSchema(
            projectID: instance.projectID, instanceID: instance.id, name: name, shardMode: mode, shardNumber: shardNumber,
            parts: accounts.enumerated().map { index, account in
                DDMSchema.NodePart(nodeID: account.0.id, adminUser: account.1, adminPassword: account.2, databases: layout[index])
            }, createdAt: self.clock())
        try await self.store.insertSchema(schema)
        return schema
    }

    /// `GET …/databases`: `created` is epoch milliseconds (an integer), `used_rds` names the nodes (reference 3.10).
    @Sendable func listSchemas(_ request: APIRequest) async throws -> Response {
        let instance = try await DDMLookup.instance(request, store: self.store)
        let schemas = try await self.store.schemas(projectID: instance.projectID, instanceID: instance.id)
        var items: [JSONValue] = []
        for schema in schemas {
            var used: [JSONValue] = []
            for part in schema.parts {
                let node = try await self.store.dataNode(projectID: instance.projectID, id: part.nodeID)
                used.append(
                    .object([
                        "id": .string(part.nodeID), "name": .string(node?.name ?? ""), "status": .string(node == nil ? "abnormal" : "normal"),
                    ]))
            }
            items.append(
                .object([
                    "name": .string(schema.name), "shard_mode": .string(schema.shardMode), "shard_number": .number(Double(schema.shardNumber)),
                    "status": .string("RUNNING"), "created": .number(Double(WireTime.epochMilliseconds(schema.createdAt))),
                    "used_rds": .array(used), "shard_unit": .number(Double((schema.shardNumber + schema.parts.count - 1) / max(1, schema.parts.count))),
                ]))
        }
        return try JSONCoding.response(["databases": JSONValue.array(items), "total": .number(Double(items.count))])
    }

    // MARK: - Helpers

    /// `BACKUP` while a backup job runs on the instance, else the stored status (reference 3.9 statuses).
    private func status(of instance: DDMInstance) async throws -> String {
        guard let job = try await self.jobs.activeJob(projectID: instance.projectID, resourceID: instance.id) else { return instance.status }
        return job.kind == DDMBackupJob.kind ? "BACKUP" : instance.status
    }

    /// Instance create and delete finish at once; their job id still answers `GET /v3/{project_id}/jobs/{job_id}`.
    private func completedJob(kind: String, instance: DDMInstance) async throws -> Job {
        let now = self.clock()
        var job = Job.new(
            kind: kind, projectID: instance.projectID, resourceID: instance.id,
            payload: DDMJobPayload(backupID: nil, instanceID: instance.id, instanceName: instance.name).json, now: now)
        job.status = .succeeded
        job.startedAt = now
        job.finishedAt = now
        try await self.jobs.enqueue(job)
        return job
    }

    static func validateInstanceName(_ name: String) throws {
        let bytes = Array(name.utf8)
        func isLetter(_ c: UInt8) -> Bool { (65...90).contains(c) || (97...122).contains(c) }
        guard (4...64).contains(bytes.count), let first = bytes.first, isLetter(first),
            bytes.allSatisfy({ isLetter($0) || (48...57).contains($0) || $0 == UInt8(ascii: "-") })
        else { throw DDMError.invalidParameter("instance.name", "4 to 64 characters: letters, digits and hyphens, starting with a letter.") }
    }
}
