import Foundation

/// A durable unit of long-running work (a backup, a delete, a scheduled task).
///
/// Jobs live in the store so that their state survives a restart: a worker *claims* a job with a
/// lease, renews the lease while it works, and finishes it. A job whose lease expired (its worker
/// died) is found by recovery and either retried, when its kind is idempotent, or failed.
package struct Job: Sendable, Equatable {
    package enum Status: String, Sendable, Codable, CaseIterable {
        case queued, running, succeeded, failed
    }

    package var id: String
    package var kind: String
    package var projectID: String
    /// The object the job works on (a backup id, an instance id …).
    package var resourceID: String
    package var status: Status
    /// Kind-specific input, JSON.
    package var payload: String
    package var attempts: Int
    package var maxAttempts: Int
    package var leaseOwner: String?
    package var leaseExpiresAt: Date?
    package var error: String?
    package var createdAt: Date
    package var updatedAt: Date
    package var startedAt: Date?
    package var finishedAt: Date?
    /// Percent done as the handler last reported it (`JobStore.report`), nil when it reports none.
    package var progress: Int? = nil
    /// What the job reached, JSON, as the handler last reported it (a recovery's point and per-node positions).
    package var result: String? = nil

    package init(
        id: String, kind: String, projectID: String, resourceID: String, status: Status, payload: String, attempts: Int,
        maxAttempts: Int, leaseOwner: String?, leaseExpiresAt: Date?, error: String?, createdAt: Date, updatedAt: Date,
        startedAt: Date?, finishedAt: Date?
    ) {
        self.id = id
        self.kind = kind
        self.projectID = projectID
        self.resourceID = resourceID
        self.status = status
        self.payload = payload
        self.attempts = attempts
        self.maxAttempts = maxAttempts
        self.leaseOwner = leaseOwner
        self.leaseExpiresAt = leaseExpiresAt
        self.error = error
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
    }

    /// A new queued job.
    package static func new(
        kind: String, projectID: String, resourceID: String, payload: String = "{}", maxAttempts: Int = 1, now: Date
    ) -> Job {
        Job(
            id: Identifiers.uuid(), kind: kind, projectID: projectID, resourceID: resourceID, status: .queued, payload: payload,
            attempts: 0, maxAttempts: maxAttempts, leaseOwner: nil, leaseExpiresAt: nil, error: nil, createdAt: now,
            updatedAt: now, startedAt: nil, finishedAt: nil)
    }
}
