import CofferCore

/// Which task runs on an instance, from the job table: the `task` field of show-instance and the
/// "one task at a time" rule.
struct InstanceTasks: Sendable {
    let jobs: any JobStore

    /// The DCS `task` name of each job kind that occupies an instance.
    static let taskNames: [String: String] = ["dcs.backup": "BACKUPING", "dcs.restore": "RESTORING"]

    /// `BACKUPING`/`RESTORING` while such a job is queued or running on the instance, else nil.
    func task(of instance: DCSInstance) async throws -> String? {
        guard let job = try await self.jobs.activeJob(projectID: instance.projectID, resourceID: instance.id) else { return nil }
        return Self.taskNames[job.kind] ?? "RUNNING_TASK"
    }
}
