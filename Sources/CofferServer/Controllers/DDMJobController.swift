import CofferCore
import CofferOperations
import Foundation
import Hummingbird
import Logging

/// DDM v3 jobs over the durable job table (reference 3.8): `Running` | `Completed` | `Failed`.
struct DDMJobController: Sendable {
    let queries: DDMJobQueries

    var routes: [Route] {
        [
            Route(.get, "/v3/{project_id}/jobs/{job_id}", handler: self.show),
            Route(.get, "/v3/{project_id}/jobs", handler: self.list),
        ]
    }

    @Sendable func show(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        return try JSONCoding.response(DDMJobDetailDTO(try await self.queries.job(projectID: caller.project.id, id: request.path("job_id"))))
    }

    /// `GET /v3/{project_id}/jobs?start_time=&end_time=&offset=&limit=` (times in epoch milliseconds).
    @Sendable func list(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        let offset = try request.intQuery("offset", in: 0...Int(Int32.max), default: 0)
        let limit = try request.intQuery("limit", in: 1...128, default: 10)
        let page = try await self.queries.list(
            projectID: caller.project.id, from: try request.epochMillisecondsQuery("start_time"),
            to: try request.epochMillisecondsQuery("end_time"), offset: offset, limit: limit)
        return try JSONCoding.response(DDMJobPageDTO(offset: offset, limit: limit, total: page.total, jobs: page.items.map(DDMJobSummaryDTO.init)))
    }
}
