import Foundation

/// The durable job table. All transitions are conditional on the lease owner, so a worker that lost
/// its lease can never overwrite the outcome decided by another.
package protocol JobStore: Sendable {
    func enqueue(_ job: Job) async throws
    func job(id: String) async throws -> Job?
    /// The queued or running job of each resource in `resourceIDs` that has one, in one query (lists ask for a
    /// whole page at once). The unique index on active jobs makes it at most one per resource.
    func activeJobs(projectID: String, resourceIDs: [String]) async throws -> [String: Job]
    /// Claims the oldest queued job of one of `kinds`: marks it running, owned by `owner` until `leaseUntil`.
    /// Lease times: on a database several nodes share (PostgreSQL) the database clock sets and judges them, and
    /// `now`/`leaseUntil` (here and below) only give the lease's length; on SQLite they are used as given.
    func claim(kinds: [String], owner: String, now: Date, leaseUntil: Date) async throws -> Job?
    /// Extends the lease; false when the job is no longer owned by `owner` (expired and taken over).
    func renewLease(jobID: String, owner: String, until: Date, now: Date) async throws -> Bool
    /// Finishes a running job owned by `owner`; false when the lease was lost.
    func finish(jobID: String, owner: String, status: Job.Status, error: String?, now: Date) async throws -> Bool
    /// Records a running job's progress (percent) and result (JSON, nil keeps the stored one); false when `owner`
    /// no longer holds the lease.
    func report(jobID: String, owner: String, progress: Int, result: String?, now: Date) async throws -> Bool
    /// Puts a running job owned by `owner` back in the queue (graceful shutdown of a retryable job).
    func release(jobID: String, owner: String, now: Date) async throws -> Bool
    /// Running jobs whose lease expired before `now` (before the database's now on PostgreSQL).
    func expiredJobs(now: Date) async throws -> [Job]
    /// Moves an expired running job to `queued` (retry) or `failed`, if it is still expired; returns whether it did.
    func resolveExpired(jobID: String, requeue: Bool, error: String, now: Date) async throws -> Bool
    /// Jobs of a project whose kind starts with `kindPrefix`, created in `[from, to]` when given, newest first.
    func jobs(projectID: String, kindPrefix: String, from: Date?, to: Date?, offset: Int, limit: Int) async throws -> Page<Job>
    /// Enqueues `job` only if no job is queued or running on its resource (one task at a time per instance, even
    /// with two requests racing or two servers sharing PostgreSQL: the database's unique index decides).
    func enqueueIfIdle(_ job: Job) async throws -> EnqueueResult
}

extension JobStore {
    /// The queued or running job on one resource, if any.
    package func activeJob(projectID: String, resourceID: String) async throws -> Job? {
        try await self.activeJobs(projectID: projectID, resourceIDs: [resourceID])[resourceID]
    }
}

/// How an attempt to start a task on a resource ended: the database's unique index on active jobs decides.
package enum EnqueueResult: Sendable, Equatable {
    /// The job (and the rows written with it) is stored.
    case enqueued
    /// Nothing was written: this job already occupies the resource. Callers derive their busy error from it.
    case busy(Job)
}
