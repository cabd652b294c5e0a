import Foundation

/// What `/metrics` reads from the store at scrape time, so its gauges are right on every node and straight
/// after a restart (nothing kept in memory decides them).
package protocol BackupMetricsStore: Sendable {
    /// Every live DCS and DDM instance with the time of its newest successful backup (nil when it has none).
    func backupFreshness() async throws -> [BackupFreshness]
    /// Queued and running jobs, counted by kind and status.
    func jobQueueDepth() async throws -> [JobQueueDepth]
    /// What a finished backup or restore job moved and, when it failed, its record's error code.
    func outcome(of job: Job) async throws -> JobOutcome
}

/// One instance's backup freshness.
package struct BackupFreshness: Sendable, Equatable {
    package enum Service: String, Sendable { case dcs, ddm }

    package var service: Service
    package var instanceID: String
    package var instanceCreatedAt: Date
    /// DCS: the newest `succeed` backup's `created_at`; DDM: the newest `normal` backup's consistent point (its
    /// `cut_at`, else `created_at`).
    package var newestSuccessAt: Date?

    package init(service: Service, instanceID: String, instanceCreatedAt: Date, newestSuccessAt: Date?) {
        self.service = service
        self.instanceID = instanceID
        self.instanceCreatedAt = instanceCreatedAt
        self.newestSuccessAt = newestSuccessAt
    }
}

package struct JobQueueDepth: Sendable, Equatable {
    package var kind: String
    package var status: Job.Status
    package var count: Int

    package init(kind: String, status: Job.Status, count: Int) {
        self.kind = kind
        self.status = status
        self.count = count
    }
}

package struct JobOutcome: Sendable, Equatable {
    /// Backup: the file's size; restore: the size of the backup it loaded. Nil when unknown.
    package var bytes: Int64?
    /// The record's error code (`dcs.08.0001` …), nil when it has none.
    package var errorCode: String?

    package init(bytes: Int64?, errorCode: String?) {
        self.bytes = bytes
        self.errorCode = errorCode
    }
}
