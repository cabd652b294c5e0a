import CofferCore
import CofferOperations
import Foundation
import Hummingbird
import Logging

/// DDM v1 instances and schemas (reference 3.9, 3.10). A Coffer DDM instance provisions nothing: it is
/// the named group of schemas whose data nodes Coffer backs up together.
struct DDMInstanceController: Sendable {
    let operations: DDMInstanceOperations
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
        let now = self.clock()
        let instance = DDMInstance(
            id: Identifiers.ddm(suffix: "in09"), projectID: caller.project.id, name: name, status: "RUNNING", flavorID: flavor,
            nodeNum: nodeNum, engineID: engine, availableZones: zones, vpcID: vpc, subnetID: subnet, securityGroupID: securityGroup,
            timeZone: timeZone, adminUserName: adminUser, enterpriseProjectID: try spec.string("enterprise_project_id"),
            createdAt: now, updatedAt: now)
        let job = try await self.operations.create(instance, logger: request.logger)
        return try JSONCoding.response(DDMInstanceJobDTO(id: instance.id, jobID: job.id))
    }

    @Sendable func list(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        let offset = try request.intQuery("offset", in: 0...Int(Int32.max), default: 0)
        let limit = try request.intQuery("limit", in: 1...128, default: 10)
        let page = try await self.operations.list(projectID: caller.project.id, offset: offset, limit: limit)
        let items = page.items.map { DDMInstanceDTO(instance: $0.0, activity: $0.1, detailed: false) }
        return try JSONCoding.response(
            DDMInstancePageDTO(
                instances: items, instanceNum: items.count, pageNo: offset / limit + 1, pageSize: limit, totalRecord: page.total,
                totalPage: (page.total + limit - 1) / limit))
    }

    @Sendable func show(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        let (instance, activity) = try await self.operations.show(projectID: caller.project.id, id: request.path("instance_id"))
        return try JSONCoding.response(DDMInstanceDTO(instance: instance, activity: activity, detailed: true))
    }

    /// `DELETE /v1/{project_id}/instances/{instance_id}?delete_rds_data=`: absent or `true` drops the shards'
    /// physical databases on the data nodes, `false` keeps them (reference 3.9). Backups stay.
    @Sendable func delete(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        let dropData: Bool
        switch request.query["delete_rds_data"]?.lowercased() {
        case nil, "", "true": dropData = true
        case "false": dropData = false
        default: throw DDMError.invalidParameter("delete_rds_data", "Expected true or false.")
        }
        let id = request.path("instance_id")
        let job = try await self.operations.delete(projectID: caller.project.id, id: id, dropData: dropData, logger: request.logger)
        return try JSONCoding.response(DDMInstanceJobDTO(id: id, jobID: job.id))
    }

    // MARK: - Schemas

    /// `POST /v1/{project_id}/instances/{instance_id}/databases`: checks each `used_rds` account on its node,
    /// creates the shard databases (`<schema>_0000` …, spread round-robin) and keeps the accounts, sealed.
    @Sendable func createSchemas(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        guard let body = try request.jsonObject(), let items = try body.array("databases"), !items.isEmpty else {
            throw DDMError.invalidParameter("databases", "At least one schema is required.")
        }
        let requests = try items.enumerated().map { index, item in
            guard case .object(let fields) = item else { throw DDMError.invalidParameter("databases[\(index)]") }
            return try Self.schemaRequest(JSONObject(fields, path: "databases[\(index)]", family: .ddm))
        }
        let created = try await self.operations.createSchemas(
            projectID: caller.project.id, instanceID: request.path("instance_id"), requests, logger: request.logger)
        return try JSONCoding.response(DDMSchemasCreatedDTO(databases: created.map { .init(name: $0.name) }))
    }

    /// One schema of the body, checked field by field (the data nodes themselves are checked by the operation).
    private static func schemaRequest(_ spec: JSONObject) throws -> DDMInstanceOperations.SchemaRequest {
        let name = try spec.requiredString("name")
        let bytes = Array(name.utf8)
        guard (2...48).contains(bytes.count), let first = bytes.first, (97...122).contains(first),
            bytes.allSatisfy({ (97...122).contains($0) || (48...57).contains($0) || $0 == UInt8(ascii: "_") })
        else { throw spec.invalid("name", "2 to 48 characters: lower-case letters, digits and underscores, starting with a letter.") }
        let mode = try spec.string("shard_mode") ?? "cluster"
        guard mode == "cluster" || mode == "single" else { throw spec.invalid("shard_mode", "Expected cluster or single.") }
        guard let used = try spec.array("used_rds"), !used.isEmpty else { throw spec.invalid("used_rds", "At least one data node is required.") }
        let shardNumber = try spec.int("shard_number") ?? (mode == "single" ? 1 : used.count)
        guard (1...4096).contains(shardNumber) else { throw spec.invalid("shard_number") }
        if mode == "single" && (shardNumber != 1 || used.count != 1) { throw DDMError.invalidShardsPerNode }
        guard shardNumber >= used.count else { throw DDMError.invalidShardsPerNode }
        let accounts = try used.enumerated().map { index, value in
            guard case .object(let fields) = value else { throw spec.invalid("used_rds[\(index)]") }
            let entry = JSONObject(fields, path: "used_rds[\(index)]", family: .ddm)
            return DDMInstanceOperations.SchemaRequest.Account(
                nodeID: try entry.requiredString("id"), user: try entry.requiredString("adminUser"),
                password: try entry.requiredString("adminPassword"))
        }
        return .init(name: name, shardMode: mode, shardNumber: shardNumber, accounts: accounts)
    }

    /// `GET …/databases`: `created` is epoch milliseconds (an integer), `used_rds` names the nodes (reference 3.10).
    @Sendable func listSchemas(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        let schemas = try await self.operations.schemas(projectID: caller.project.id, instanceID: request.path("instance_id"))
        let items = schemas.map { DDMSchemaDTO($0.0, nodes: $0.1) }
        return try JSONCoding.response(DDMSchemaListDTO(databases: items, total: items.count))
    }

    // MARK: - Helpers

    static func validateInstanceName(_ name: String) throws {
        let bytes = Array(name.utf8)
        func isLetter(_ c: UInt8) -> Bool { (65...90).contains(c) || (97...122).contains(c) }
        guard (4...64).contains(bytes.count), let first = bytes.first, isLetter(first),
            bytes.allSatisfy({ isLetter($0) || (48...57).contains($0) || $0 == UInt8(ascii: "-") })
        else { throw DDMError.invalidParameter("instance.name", "4 to 64 characters: letters, digits and hyphens, starting with a letter.") }
    }
}
