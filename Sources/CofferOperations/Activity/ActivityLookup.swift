import CofferCore

/// The one place that answers "what runs on this resource": from the job table, one query for a single
/// resource or a whole page of them. Busy errors and task names are derived from its answer, never from
/// a second look-up.
package struct ActivityLookup: Sendable {
    let jobs: any JobStore

    package init(jobs: any JobStore) {
        self.jobs = jobs
    }

    /// What occupies the resource, or nil when it is idle.
    package func activity(projectID: String, resourceID: String) async throws -> Activity? {
        try await self.jobs.activeJob(projectID: projectID, resourceID: resourceID)?.activity
    }

    /// What occupies each of `resourceIDs` that is busy, in one query.
    package func activities(projectID: String, resourceIDs: [String]) async throws -> [String: Activity] {
        try await self.jobs.activeJobs(projectID: projectID, resourceIDs: resourceIDs).mapValues(\.activity)
    }
}
