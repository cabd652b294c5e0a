import CofferCore
import CofferJobs
import Foundation

/// Wraps a backup or restore job handler to record its metrics on the node that runs it, without the
/// handlers (CofferOperations) knowing about metrics: the duration of each run, the bytes of a success (read
/// from its record) and each final failure with its record's error code (`jobFailed` is called once whatever
/// the cause: an error, a lost lease, recovery after a crash).
struct MeteredJobHandler: JobHandler {
    let inner: any JobHandler
    let service: BackupFreshness.Service
    let operation: BackupMetrics.Operation
    let metrics: BackupMetrics
    let store: any BackupMetricsStore

    /// `handler` wrapped when it runs backups or restores, else `handler` itself.
    static func wrap(_ handler: any JobHandler, metrics: BackupMetrics, store: any BackupMetricsStore) -> any JobHandler {
        guard let kind = JobKind(rawValue: handler.kind), let (service, operation) = BackupMetrics.Operation.of(kind) else { return handler }
        return MeteredJobHandler(inner: handler, service: service, operation: operation, metrics: metrics, store: store)
    }

    var kind: String { self.inner.kind }
    var isIdempotent: Bool { self.inner.isIdempotent }

    func run(_ job: Job) async throws {
        let start = ContinuousClock.now
        do {
            try await self.inner.run(job)
        } catch {
            self.metrics.recordRun(
                service: self.service, operation: self.operation, instanceID: job.resourceID, duration: ContinuousClock.now - start,
                succeeded: false, bytes: nil)
            throw error
        }
        let bytes = try? await self.store.outcome(of: job).bytes
        self.metrics.recordRun(
            service: self.service, operation: self.operation, instanceID: job.resourceID, duration: ContinuousClock.now - start,
            succeeded: true, bytes: bytes ?? nil)
    }

    func jobFailed(_ job: Job, reason: String) async {
        await self.inner.jobFailed(job, reason: reason)
        let recorded = try? await self.store.outcome(of: job).errorCode
        let code = (recorded ?? nil) ?? BackupMetrics.code(fromReason: reason)
        self.metrics.recordFailure(service: self.service, operation: self.operation, instanceID: job.resourceID, code: code)
    }
}
