import CofferCore
import Foundation

/// What every use case shares: the job table (to queue work and to see what runs where), the worker's
/// doorbell, and the clock.
package struct OperationContext: Sendable {
    let jobs: any JobStore
    let activity: ActivityLookup
    /// Rung after each enqueue, so a job starts now rather than at the worker's next poll.
    let wakeWorker: @Sendable () -> Void
    let clock: @Sendable () -> Date

    package init(jobs: any JobStore, wakeWorker: @escaping @Sendable () -> Void, clock: @escaping @Sendable () -> Date) {
        self.jobs = jobs
        self.activity = ActivityLookup(jobs: jobs)
        self.wakeWorker = wakeWorker
        self.clock = clock
    }
}
