import CofferCore
import Foundation

/// The DDM view of the job table (`GET /v3/{project_id}/jobs…`): DDM jobs of the caller's project only.
package struct DDMJobQueries: Sendable {
    let jobs: any JobStore

    package init(jobs: any JobStore) {
        self.jobs = jobs
    }

    /// One DDM job of the project, or 400 `DBS.280001` for a malformed id and 404 `DBS.200005` for an unknown one.
    package func job(projectID: String, id: String) async throws -> Job {
        guard Identifiers.isUUID(id) || Identifiers.isHex32(id) else { throw DDMError.invalidParameter("job_id") }
        guard let job = try await self.jobs.job(id: id.lowercased()), job.projectID == projectID, job.kind.hasPrefix("ddm.") else {
            throw DDMError.jobNotFound
        }
        return job
    }

    /// The project's DDM jobs created in `[from, to]`, newest first.
    package func list(projectID: String, from: Date?, to: Date?, offset: Int, limit: Int) async throws -> Page<Job> {
        try await self.jobs.jobs(projectID: projectID, kindPrefix: "ddm.", from: from, to: to, offset: offset, limit: limit)
    }
}
