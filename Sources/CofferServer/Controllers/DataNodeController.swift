import CofferCore
import CofferMySQL
import Foundation
import Hummingbird
import Logging

/// Data nodes (Coffer extension `/v3/{project_id}/data-nodes`, where Huawei uses RDS), and the two DDM
/// calls that list them in Huawei's shapes (reference 3.10).
struct DataNodeController: Sendable {
    let store: any DDMStore
    let inspector: MySQLInspector
    let clock: @Sendable () -> Date

    var routes: [Route] {
        [
            Route(.post, "/v3/{project_id}/data-nodes", handler: self.create),
            Route(.get, "/v3/{project_id}/data-nodes", handler: self.list),
            Route(.get, "/v3/{project_id}/data-nodes/{node_id}", handler: self.show),
            Route(.delete, "/v3/{project_id}/data-nodes/{node_id}", handler: self.delete),
            Route(.get, "/v1/{project_id}/instances/{instance_id}/rds", handler: self.listRDS),
            Route(.get, "/v3/{project_id}/instances/{instance_id}/available-data-nodes", handler: self.listAvailable),
        ]
    }

    /// `POST /v3/{project_id}/data-nodes`: registers a server after reading its handshake (engine, version).
    @Sendable func create(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        guard let body = try request.jsonObject() else { throw DDMError.invalidParameter("body", "A JSON body is required.") }
        let name = try body.requiredString("name")
        guard (1...64).contains(name.count) else { throw DDMError.invalidParameter("name", "1 to 64 characters.") }
        let host = try body.requiredString("private_ip")
        guard !host.isEmpty else { throw DDMError.invalidParameter("private_ip") }
        let port = try body.int("port") ?? 3306
        guard (1...65535).contains(port) else { throw DDMError.invalidParameter("port", "Expected 1 to 65535.") }
        let info = try await self.inspector.handshake(host: host, port: port)
        let node = DataNode(
            id: Identifiers.ddm(suffix: "in01"), projectID: caller.project.id, name: name, host: host, port: port,
            engineName: info.engineName, engineVersion: info.engineVersion, createdAt: self.clock())
        try await self.store.insertDataNode(node)
        request.logger.info("Data node registered", metadata: ["ddm.node.id": "\(node.id)", "ddm.node.address": "\(node.address)"])
        return try JSONCoding.response(["id": node.id, "name": node.name], status: .created)
    }

    @Sendable func list(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        let offset = try request.intQuery("offset", in: 0...Int(Int32.max), default: 0)
        let limit = try request.intQuery("limit", in: 1...128, default: 10)
        let page = try await self.store.dataNodes(projectID: caller.project.id, offset: offset, limit: limit)
        return try JSONCoding.response(DataNodePageDTO(dataNodes: page.items.map(DataNodeDTO.init), offset: offset, limit: limit, total: page.total))
    }

    @Sendable func show(_ request: APIRequest) async throws -> Response {
        try JSONCoding.response(DataNodeDTO(try await self.node(request)))
    }

    /// `DELETE …/data-nodes/{id}`: refused while a schema of a live instance uses the node.
    @Sendable func delete(_ request: APIRequest) async throws -> Response {
        let node = try await self.node(request)
        guard try await !self.store.dataNodeInUse(projectID: node.projectID, id: node.id) else { throw DDMError.dataNodeInUse }
        try await self.store.deleteDataNode(projectID: node.projectID, id: node.id)
        return Response(status: .noContent)
    }

    /// `GET /v1/{project_id}/instances/{instance_id}/rds`: camelCase keys, limit up to 1000 (reference 3.10).
    @Sendable func listRDS(_ request: APIRequest) async throws -> Response {
        let instance = try await DDMLookup.instance(request, store: self.store)
        let offset = try request.intQuery("offset", in: 0...Int(Int32.max), default: 0)
        let limit = try request.intQuery("limit", in: 1...1000, default: 128)
        let page = try await self.store.dataNodes(projectID: instance.projectID, offset: offset, limit: limit)
        let items: [[String: JSONValue]] = page.items.map { node in
            [
                "id": .string(node.id), "projectId": .string(node.projectID), "status": .string("normal"), "name": .string(node.name),
                "engineName": .string(node.engineName), "engineSoftwareVersion": .string(node.engineVersion),
                "privateIp": .string(node.host), "mode": .string("Single"), "port": .number(Double(node.port)),
                "azCode": .string(instance.availableZones.first ?? ""), "timeZone": .string("UTC"),
            ]
        }
        return try JSONCoding.response(
            ["instances": JSONValue.array(items.map(JSONValue.object)), "offset": .number(Double(offset)), "limit": .number(Double(limit)),
             "total": .number(Double(page.total))])
    }

    /// `GET /v3/{project_id}/instances/{instance_id}/available-data-nodes` (reference 3.10).
    @Sendable func listAvailable(_ request: APIRequest) async throws -> Response {
        let instance = try await DDMLookup.instance(request, store: self.store)
        let offset = try request.intQuery("offset", in: 0...Int(Int32.max), default: 0)
        let limit = try request.intQuery("limit", in: 1...128, default: 10)
        let page = try await self.store.dataNodes(projectID: instance.projectID, offset: offset, limit: limit)
        let items: [[String: JSONValue]] = page.items.map { node in
            [
                "id": .string(node.id), "status": .string("normal"), "name": .string(node.name), "engine_name": .string(node.engineName),
                "engine_version": .string(node.engineVersion), "private_ip": .string(node.host), "port": .number(Double(node.port)),
                "time_zone": .string("UTC"),
            ]
        }
        return try JSONCoding.response(
            ["data_nodes": JSONValue.array(items.map(JSONValue.object)), "offset": .number(Double(offset)), "limit": .number(Double(limit)),
             "total": .number(Double(page.total))])
    }

    private func node(_ request: APIRequest) async throws -> DataNode {
        let caller = try request.caller
        let id = request.path("node_id")
        guard Identifiers.isDDM(id, suffix: "in01") else { throw DDMError.invalidParameter("node_id", "Expected 32 hex characters and in01.") }
        guard let node = try await self.store.dataNode(projectID: caller.project.id, id: id) else { throw DDMError.dataNodeNotFound }
        return node
    }
}

/// The path's DDM instance (and backup) in the caller's project: 400 `DBS.280001` for a malformed id,
/// 404 `DBS.200002` for an unknown one (also another project's).
enum DDMLookup {
    static func instance(_ request: APIRequest, store: any DDMStore) async throws -> DDMInstance {
        let caller = try request.caller
        let id = request.path("instance_id")
        guard Identifiers.isDDM(id, suffix: "in09") else {
            throw DDMError.invalidParameter("instance_id", "Expected 32 hex characters and in09.")
        }
        guard let instance = try await store.instance(projectID: caller.project.id, id: id) else { throw DDMError.instanceNotFound }
        return instance
    }

    /// The path's backup id, validated.
    static func backupID(_ request: APIRequest) throws -> String {
        let id = request.path("backup_id")
        guard Identifiers.isDDM(id, suffix: "br09") else {
            throw DDMError.invalidParameter("backup_id", "Expected 32 hex characters and br09.")
        }
        return id
    }
}
