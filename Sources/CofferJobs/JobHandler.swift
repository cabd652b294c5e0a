import CofferCore

/// The code behind one job kind.
package protocol JobHandler: Sendable {
    /// The `Job.kind` this handler runs.
    var kind: String { get }
    /// Whether running the job again from the start is safe. An idempotent job interrupted by a crash
    /// or a shutdown is queued again; any other is finished as failed.
    var isIdempotent: Bool { get }
    /// Does the work. Throwing fails the job (after `maxAttempts`, for idempotent kinds).
    /// Cancellation means the lease was lost or the server is shutting down.
    func run(_ job: Job) async throws
    /// Called once when the job ends as failed, whatever the cause (an error, a lost lease, recovery after a
    /// crash), so the handler can mark its own records failed and remove partial output.
    func jobFailed(_ job: Job, reason: String) async
}
