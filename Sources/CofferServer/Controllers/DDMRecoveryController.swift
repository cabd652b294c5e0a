import CofferCore
import CofferOperations
import Foundation
import Hummingbird

/// `POST /v3/{project_id}/instances/{instance_id}/backups/recovery` (`restore2_exist`, reference 3.6).
struct DDMRecoveryController: Sendable {
    let operations: DDMRecoveryOperations

    var routes: [Route] {
        [
            Route(.post, "/v3/{project_id}/instances/{instance_id}/backups/recovery", handler: self.recover),
            Route(.post, "/v3/{project_id}/instances/{instance_id}/backups/metadata-recovery", handler: self.recoverMetadata),
        ]
    }

    /// → 202 `{job_id}`. `source.restore_time` is epoch ms as an integer or a float (`1747732352076.0`, what the SDK
    /// sends for a Python float); a fraction below the millisecond is refused rather than rounded.
    @Sendable func recover(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        guard let body = try request.jsonObject() else { throw DDMError.invalidBody("The body must be a JSON object.") }
        guard let source = try body.object("source") else { throw body.invalid("source", "The field is required.") }
        guard let time = try source.double("restore_time") else { throw source.invalid("restore_time", "The field is required.") }
        guard time.isFinite, time >= 0, time < 9e15, time.rounded() == time else {
            throw source.invalid("restore_time", "Expected epoch milliseconds.")
        }
        guard let target = try body.object("target") else { throw body.invalid("target", "The field is required.") }
        let targetID = try target.requiredString("instance_id")
        guard let items = try body.array("data_node_relations") else { throw body.invalid("data_node_relations", "The field is required.") }
        var relations: [(source: String, target: String)] = []
        for item in items {
            guard case .object(let fields) = item, case .string(let from)? = fields["source_instance_id"],
                case .string(let to)? = fields["target_instance_id"]
            else { throw body.invalid("data_node_relations", "Each entry needs source_instance_id and target_instance_id strings.") }
            relations.append((from, to))
        }
        let job = try await self.operations.recover(
            projectID: caller.project.id, instanceID: request.path("instance_id"),
            DDMRecoveryOperations.Request(
                restoreTime: Int64(time), sourceInstanceID: try source.string("instance_id"), targetInstanceID: targetID, relations: relations),
            logger: request.logger)
        return try JSONCoding.response(DDMJobCreatedDTO(jobID: job.id), status: .accepted)
    }
}

extension DDMRecoveryController {
    /// `POST …/backups/metadata-recovery` (`restore_metadata`, reference 3.7) → 202 `{job_id}`: exactly one of
    /// `source.backup_id` and `source.restore_time`; `target.data_nodes` in the backup's node order.
    @Sendable func recoverMetadata(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        guard let body = try request.jsonObject() else { throw DDMError.invalidBody("The body must be a JSON object.") }
        guard let source = try body.object("source") else { throw body.invalid("source", "The field is required.") }
        var restoreTime: Int64?
        if let time = try source.double("restore_time") {
            guard time.isFinite, time >= 0, time < 9e15, time.rounded() == time else {
                throw source.invalid("restore_time", "Expected epoch milliseconds.")
            }
            restoreTime = Int64(time)
        }
        guard let target = try body.object("target") else { throw body.invalid("target", "The field is required.") }
        let targetID = try target.requiredString("instance_id")
        guard let items = try target.array("data_nodes"), !items.isEmpty else { throw target.invalid("data_nodes", "The field is required.") }
        var nodes: [String] = []
        for item in items {
            guard case .string(let id) = item else { throw target.invalid("data_nodes", "Expected data node id strings.") }
            nodes.append(id)
        }
        let job = try await self.operations.recoverMetadata(
            projectID: caller.project.id, instanceID: request.path("instance_id"), backupID: try source.string("backup_id"), restoreTime: restoreTime,
            targetInstanceID: targetID, dataNodes: nodes, logger: request.logger)
        return try JSONCoding.response(DDMJobCreatedDTO(jobID: job.id), status: .accepted)
    }
}

/// `{"job_id": …}`.
struct DDMJobCreatedDTO: Encodable {
    var jobID: String

    enum CodingKeys: String, CodingKey {
        case jobID = "job_id"
    }
}
