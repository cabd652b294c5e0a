import CofferCore
import Foundation
import Hummingbird
import Logging

/// DDM v3 jobs over the durable job table (reference 3.8): `Running` | `Completed` | `Failed`.
struct DDMJobController: Sendable {
    let jobs: any JobStore

    var routes: [Route] {
        [
            Route(.get, "/v3/{project_id}/jobs/{job_id}", handler: self.show),
            Route(.get, "/v3/{project_id}/jobs", handler: self.list),
        ]
    }

    /// Huawei task names of Coffer's job kinds.
    static let taskNames: [String: String] = [
        DDMBackupJob.kind: "createConsistentBackup", DDMBackupDeleteJob.kind: "deleteConsistentBackup",
        "ddm.instance.create": "CreateInstance", "ddm.instance.delete": "DeleteInstance",
    ]

    static func status(_ job: Job) -> String {
        switch job.status {
        case .queued, .running: "Running"
        case .succeeded: "Completed"
        case .failed: "Failed"
        }
    }

    @Sendable func show(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        let id = request.path("job_id")
        guard Identifiers.isUUID(id) || Identifiers.isHex32(id) else { throw DDMError.invalidParameter("job_id") }
        guard let job = try await self.jobs.job(id: id.lowercased()), job.projectID == caller.project.id, job.kind.hasPrefix("ddm.") else {
            throw DDMError.jobNotFound
        }
        let payload = DDMJobPayload.decode(job.payload)
        let body: JSONValue = .object([
            "job": .object([
                "id": .string(job.id), "name": .string(Self.taskNames[job.kind] ?? job.kind), "status": .string(Self.status(job)),
                "created_time": .string(WireTime.ddm(job.createdAt)), "end_time": .string(job.finishedAt.map(WireTime.ddm) ?? ""),
                "process": .string(job.status == .running ? "50%" : ""),
                "instance": .object(["id": .string(payload?.instanceID ?? job.resourceID), "name": .string(payload?.instanceName ?? "")]),
            ])
        ])
        return try JSONCoding.response(body)
    }

    /// `GET /v3/{project_id}/jobs?start_time=&end_time=&offset=&limit=` (times in epoch milliseconds).
    @Sendable func list(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        let offset = try request.intQuery("offset", in: 0...Int(Int32.max), default: 0)
        let limit = try request.intQuery("limit", in: 1...128, default: 10)
        func time(_ name: String) throws -> Date? {
            guard let text = request.query[name] else { return nil }
            guard let date = WireTime.parseEpochMilliseconds(text) else { throw DDMError.invalidParameter(name, "Expected epoch milliseconds.") }
            return date
        }
        let page = try await self.jobs.jobs(
            projectID: caller.project.id, kindPrefix: "ddm.", from: try time("start_time"), to: try time("end_time"), offset: offset, limit: limit)
        let items: [JSONValue] = page.items.map { job in
            let payload = DDMJobPayload.decode(job.payload)
            return .object([
                "id": .string(job.id), "name": .string(Self.taskNames[job.kind] ?? job.kind), "status": .string(Self.status(job)),
                "created_time": .string(WireTime.ddm(job.createdAt)), "end_time": .string(job.finishedAt.map(WireTime.ddm) ?? ""),
                "process": .string(job.status == .running ? "50%" : ""), "instance_name": .string(payload?.instanceName ?? ""),
                "instance_id": .string(payload?.instanceID ?? job.resourceID), "operations": .array([]), "database_name": .string(""),
                "fail_reason": .string(job.error ?? ""),
            ])
        }
        return try JSONCoding.response(
            ["offset": JSONValue.number(Double(offset)), "limit": .number(Double(limit)), "total": .number(Double(page.total)), "jobs": .array(items)])
    }
}
