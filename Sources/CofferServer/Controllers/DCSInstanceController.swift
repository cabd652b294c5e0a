import CofferCore
import CofferOperations
import Foundation
import Hummingbird
import Logging

/// DCS v2 instance operations (reference 2.10). A Coffer instance adopts a running Redis server.
struct DCSInstanceController: Sendable {
    let operations: DCSInstanceOperations
    let clock: @Sendable () -> Date

    var routes: [Route] {
        [
            Route(.post, "/v2/{project_id}/instances", handler: self.create),
            Route(.get, "/v2/{project_id}/instances", handler: self.list),
            Route(.get, "/v2/{project_id}/instances/{instance_id}", handler: self.show),
            Route(.put, "/v2/{project_id}/instances/{instance_id}", handler: self.update),
            Route(.delete, "/v2/{project_id}/instances/{instance_id}", handler: self.delete),
        ]
    }

    // MARK: - Create

    @Sendable func create(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        guard let body = try request.jsonObject() else { throw DCSError.emptyBody }
        let name = try body.requiredString("name")
        try Self.validateName(name)
        guard (try body.string("engine"))?.lowercased() == "redis" else { throw DCSError.unsupportedEngine }
        let description = try body.string("description")
        if let description, description.count > 1024 { throw DCSError.descriptionTooLong }
        guard let host = try body.string("private_ip"), !host.isEmpty else {
            throw DCSError.invalidParameter(
                "private_ip", "Coffer adopts an existing Redis server: give its address in private_ip (and port).")
        }
        let port = try body.int("port") ?? 6379
        guard (1...65535).contains(port) else { throw DCSError.invalidParameter("port", "Expected 1 to 65535.") }
        let capacity = try body.double("capacity") ?? 0
        // Bounded: show and list print it as an integer, and `Int(1e300)` traps on every later read.
        guard (0...Self.maxCapacityGB).contains(capacity) else {
            throw DCSError.invalidParameter("capacity", "Expected 0 to \(Int(Self.maxCapacityGB)) GB.")
        }
        let noPassword = try body.bool("no_password_access") ?? false
        let password = noPassword ? nil : try body.string("password")
        let policy = try body.object("instance_backup_policy").map(Self.backupPolicy)
        let now = self.clock()
        var extra: [String: JSONValue] = [:]
        for key in DCSInstanceDTO.passThrough.union(["bss_param", "rename_commands", "instance_num", "spec_param", "security_group_id"]) {
            if let value = body.fields[key], value != .null { extra[key] = value }
        }
        let instance = DCSInstance(
            id: Identifiers.uuid(), projectID: caller.project.id, name: name, engine: "Redis",
            requestedEngineVersion: try body.string("engine_version"), host: host, port: port,
            accessUser: try body.string("access_user"), password: password, description: description, status: "RUNNING",
            capacityGB: capacity, specCode: try body.string("spec_code"),
            backupPolicy: policy.map { StoredBackupPolicy(id: Identifiers.uuid(), policy: $0, createdAt: now, updatedAt: now) },
            extra: extra, createdAt: now, updatedAt: now)
        try await self.operations.create(instance)
        request.logger.info("DCS instance created", metadata: ["instance.id": "\(instance.id)", "redis.address": "\(instance.address)"])
        return try JSONCoding.response(CreatedInstances(instances: [.init(instanceID: instance.id, instanceName: instance.name)]))
    }

    private struct CreatedInstances: Encodable {
        struct Item: Encodable {
            var instanceID: String
            var instanceName: String
            enum CodingKeys: String, CodingKey {
                case instanceID = "instance_id"
                case instanceName = "instance_name"
            }
        }
        var instances: [Item]
    }

    // MARK: - List and show

    @Sendable func list(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        let filter = DCSInstanceFilter(
            instanceID: request.query["instance_id"], name: request.query["name"],
            nameEqual: request.query["name_equal"]?.lowercased() == "true", status: request.query["status"],
            offset: try request.intQuery("offset", in: 0...Int(Int32.max), default: 0),
            limit: try request.intQuery("limit", in: 1...1000, default: 10))
        let page = try await self.operations.list(projectID: caller.project.id, filter: filter)
        let dtos = page.items.map { DCSInstanceDTO(view: $0, detailed: false) }
        return try JSONCoding.response(InstanceList(instanceNum: page.total, instances: dtos))
    }

    private struct InstanceList: Encodable {
        var instanceNum: Int
        var instances: [DCSInstanceDTO]
        enum CodingKeys: String, CodingKey {
            case instanceNum = "instance_num"
            case instances
        }
    }

    @Sendable func show(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        return try JSONCoding.response(
            DCSInstanceDTO(view: try await self.operations.show(projectID: caller.project.id, id: request.path("instance_id")), detailed: true))
    }

    // MARK: - Update and delete

    @Sendable func update(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        guard let body = try request.jsonObject() else { throw DCSError.emptyBody }
        var changes = DCSInstanceChanges()
        if let name = try body.string("name") {
            try Self.validateName(name)
            changes.name = name
        }
        if let description = try body.string("description") {
            guard description.count <= 1024 else { throw DCSError.descriptionTooLong }
            changes.description = description
        }
        for key in ["maintain_begin", "maintain_end", "security_group_id"] {
            if let value = try body.string(key) { changes.extra[key] = .string(value) }
        }
        if let commands = try body.object("rename_commands") { changes.extra["rename_commands"] = .object(commands.fields) }
        if let policyBody = try body.object("instance_backup_policy") { changes.backupPolicy = try Self.backupPolicy(policyBody) }
        if let port = try body.int("port") {
            guard (1...65535).contains(port) else { throw DCSError.invalidParameter("port", "Expected 1 to 65535.") }
            changes.port = port
        }
        try await self.operations.update(projectID: caller.project.id, id: request.path("instance_id"), changes)
        return JSONCoding.noContent()
    }

    /// `DELETE …/instances/{instance_id}` → 204: the instance is gone at once; a job removes its backups' files.
    @Sendable func delete(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        try await self.operations.delete(projectID: caller.project.id, id: request.path("instance_id"), logger: request.logger)
        return JSONCoding.noContent()
    }

    // MARK: - Helpers

    /// The largest `capacity` accepted, in GB (Huawei's largest DCS size is 1024 GB).
    static let maxCapacityGB: Double = 4096

    static func validateName(_ name: String) throws {
        func isLetter(_ c: UInt8) -> Bool { (65...90).contains(c) || (97...122).contains(c) }
        let bytes = Array(name.utf8)
        guard (4...64).contains(bytes.count), let first = bytes.first, isLetter(first),
            bytes.allSatisfy({ isLetter($0) || (48...57).contains($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") })
        else { throw DCSError.invalidName }
    }

    /// Parses `instance_backup_policy` with the DCS.4072–4076 codes for each field.
    static func backupPolicy(_ body: JSONObject) throws -> BackupPolicy {
        guard let type = try? body.string("backup_type") else { throw DCSError.invalidBackupType }
        var saveDays: Int?
        if body.has("save_days") {
            guard let days = try? body.int("save_days") else { throw DCSError.invalidSaveDays }
            saveDays = days
        }
        var plan: BackupPlan?
        if let planBody = try? body.object("periodical_backup_plan") {
            guard let periodType = try? planBody.string("period_type") else { throw DCSError.invalidPeriodType }
            guard let beginAt = try? planBody.string("begin_at") else { throw DCSError.invalidBeginAt }
            guard let backupAt = try? planBody.array("backup_at") else { throw DCSError.invalidBackupAt }
            let days = try backupAt.map { value -> Int in
                // `Int(exactly:)`: nil for 1.5 and for 1e300, where `Int(_:)` traps.
                guard case .number(let number) = value, let day = Int(exactly: number) else { throw DCSError.invalidBackupAt }
                return day
            }
            let timezone = try? planBody.string("timezone_offset")
            plan = BackupPlan(timezoneOffset: timezone, backupAt: days, periodType: periodType, beginAt: beginAt)
        } else if body.has("periodical_backup_plan") {
            throw DCSError.invalidPeriodType
        }
        let policy = BackupPolicy(backupType: type, saveDays: saveDays, periodicalBackupPlan: plan)
        try policy.validate()
        return policy
    }
}
