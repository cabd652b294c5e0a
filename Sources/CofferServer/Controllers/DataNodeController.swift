import CofferCore
import CofferOperations
import Foundation
import Hummingbird
import Logging

/// Data nodes (Coffer extension `/v3/{project_id}/data-nodes`, where Huawei uses RDS), and the two DDM
/// calls that list them in Huawei's shapes (reference 3.10).
struct DataNodeController: Sendable {
    let operations: DataNodeOperations
    let instances: DDMInstanceOperations

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
        let node = try await self.operations.register(projectID: caller.project.id, name: name, host: host, port: port, logger: request.logger)
        return try JSONCoding.response(DataNodeCreatedDTO(id: node.id, name: node.name), status: .created)
    }

    @Sendable func list(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        let offset = try request.intQuery("offset", in: 0...Int(Int32.max), default: 0)
        let limit = try request.intQuery("limit", in: 1...128, default: 10)
        let page = try await self.operations.list(projectID: caller.project.id, offset: offset, limit: limit)
        return try JSONCoding.response(DataNodePageDTO(dataNodes: page.items.map(DataNodeDTO.init), offset: offset, limit: limit, total: page.total))
    }

    @Sendable func show(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        return try JSONCoding.response(DataNodeDTO(try await self.operations.node(projectID: caller.project.id, id: request.path("node_id"))))
    }

    /// `DELETE …/data-nodes/{id}`: refused while a schema of a live instance uses the node.
    @Sendable func delete(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        try await self.operations.delete(projectID: caller.project.id, id: request.path("node_id"))
        return Response(status: .noContent)
    }

    /// `GET /v1/{project_id}/instances/{instance_id}/rds`: camelCase keys, limit up to 1000 (reference 3.10).
    @Sendable func listRDS(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        let instance = try await self.instances.instance(projectID: caller.project.id, id: request.path("instance_id"))
        let offset = try request.intQuery("offset", in: 0...Int(Int32.max), default: 0)
        let limit = try request.intQuery("limit", in: 1...1000, default: 128)
        let page = try await self.operations.list(projectID: instance.projectID, offset: offset, limit: limit)
        let zone = instance.availableZones.first ?? ""
        return try JSONCoding.response(
            RDSNodePageDTO(instances: page.items.map { RDSNodeDTO($0, zone: zone) }, offset: offset, limit: limit, total: page.total))
    }

    /// `GET /v3/{project_id}/instances/{instance_id}/available-data-nodes` (reference 3.10).
    @Sendable func listAvailable(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        let instance = try await self.instances.instance(projectID: caller.project.id, id: request.path("instance_id"))
        let offset = try request.intQuery("offset", in: 0...Int(Int32.max), default: 0)
        let limit = try request.intQuery("limit", in: 1...128, default: 10)
        let page = try await self.operations.list(projectID: instance.projectID, offset: offset, limit: limit)
        return try JSONCoding.response(
            DataNodePageDTO(dataNodes: page.items.map { DataNodeDTO($0, available: true) }, offset: offset, limit: limit, total: page.total))
    }
}
