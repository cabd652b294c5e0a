import CofferCore
import CofferJobs
import CofferStorage
import CofferTestSupport
import Foundation
import Logging
import Synchronization

/// Quiet: the tests judge the job table, not the worker's log lines.
let quietLogger: Logger = {
    var logger = Logger(label: "coffer.test.jobs")
    logger.logLevel = .critical
    return logger
}()

/// Runs `body` with the SQL job store over a fresh, migrated database of `database`.
func withJobStore<R: Sendable>(_ database: TestDatabase, _ body: (any JobStore) async throws -> R) async throws -> R {
    try await database.withProvider { provider in try await body(SQLJobStore(provider: provider)) }
}

/// Polls `condition` every 10 ms until it holds or `timeout` passes; returns whether it held.
func eventually(within timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return try await condition()
}

/// A one-shot signal: `wait()` returns once `open()` was called (at once if it already was).
final class Gate: Sendable {
    private let state = Mutex<(isOpen: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func open() {
        let waiters = self.state.withLock { state in
            state.isOpen = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            let now = self.state.withLock { state in
                if state.isOpen { return true }
                state.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }
}

/// A handler whose every run is scripted by the test, recording what the worker did with it.
final class ScriptedHandler: JobHandler {
    /// What one run saw, in order of the runs.
    struct Run: Sendable {
        var attempt: Int
        var started: ContinuousClock.Instant
        var ended: ContinuousClock.Instant?
        var wasCancelled = false
    }

    let kind: String
    let isIdempotent: Bool
    /// The body of run number `n` (0-based); throwing fails the run.
    let script: @Sendable (Int, Job) async throws -> Void
    let runs = Mutex<[Run]>([])
    let failures = Mutex<[String]>([])

    init(kind: String = "test.job", isIdempotent: Bool, script: @escaping @Sendable (Int, Job) async throws -> Void = { _, _ in }) {
        self.kind = kind
        self.isIdempotent = isIdempotent
        self.script = script
    }

    var runCount: Int { self.runs.withLock { $0.count } }

    func run(_ job: Job) async throws {
        let index = self.runs.withLock { runs in
            runs.append(Run(attempt: job.attempts, started: .now))
            return runs.count - 1
        }
        defer {
            let cancelled = Task.isCancelled
            self.runs.withLock { runs in
                runs[index].ended = .now
                runs[index].wasCancelled = cancelled
            }
        }
        try await self.script(index, job)
    }

    func jobFailed(_ job: Job, reason: String) async {
        self.failures.withLock { $0.append(reason) }
    }
}

/// Sleeps until the task is cancelled (or a minute passes), then throws `CancellationError`.
func untilCancelled() async throws {
    try await Task.sleep(for: .seconds(60))
}

/// A value shared between a test and the tasks it starts (a local `Mutex` cannot be captured by them).
final class Shared<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) { self.mutex = Mutex(value) }

    var value: Value { self.mutex.withLock { $0 } }

    func update<R: Sendable>(_ body: (inout Value) -> R) -> R { self.mutex.withLock { body(&$0) } }
}
