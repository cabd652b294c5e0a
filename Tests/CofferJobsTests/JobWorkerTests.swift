import CofferCore
import CofferJobs
import CofferStorage
import CofferTestSupport
import Foundation
import SQLKit
import ServiceLifecycle
import Synchronization
import Testing

/// The worker against the real SQL job table, with two-second leases so that expiry and takeover happen
/// within the test.
@Suite("JobWorker leases, retries, recovery and shutdown", .timeLimit(.minutes(1)))
struct JobWorkerTests {
    static func configuration(grace: Duration = .milliseconds(500)) -> JobWorker.Configuration {
        var configuration = JobWorker.Configuration()
        configuration.concurrency = 1
        // Two seconds: renewals every 0.67 s still land on a machine loaded by parallel suites (one second lost
        // leases under CI's load), while expiry and takeover stay quick.
        configuration.leaseDuration = .seconds(2)
        configuration.pollInterval = .milliseconds(20)
        configuration.recoveryInterval = .milliseconds(50)
        configuration.shutdownGrace = grace
        return configuration
    }

    static func job(_ kind: String = "test.job", maxAttempts: Int = 1) -> Job {
        Job.new(kind: kind, projectID: "P", resourceID: "R-" + Identifiers.uuid(), maxAttempts: maxAttempts, now: Date())
    }

    /// Runs `worker` as a service; `body` runs meanwhile, then graceful shutdown is triggered and awaited.
    static func running(_ worker: JobWorker, _ body: (ServiceGroup) async throws -> Void) async throws {
        let group = ServiceGroup(services: [worker], gracefulShutdownSignals: [], cancellationSignals: [], logger: quietLogger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                try await body(group)
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    // MARK: Lease loss

    @Test("A job taken over after its lease expired: the first handler is cancelled and its outcome is dropped", arguments: TestDatabase.available)
    func leaseLoss(database: TestDatabase) async throws {
        try await database.withProvider { provider in
            let store = SQLJobStore(provider: provider)
            let secondMayFinish = Gate()
            let handler = ScriptedHandler(isIdempotent: true) { run, _ in
                if run == 0 {
                    // The first owner: works until cancelled, then reports failure, which must not count.
                    try? await untilCancelled()
                    throw CancellationError()
                }
                await secondMayFinish.wait()
            }
            let job = Self.job(maxAttempts: 3)
            try await store.enqueue(job)
            let first = JobWorker(store: store, handlers: [handler], configuration: Self.configuration(), logger: quietLogger)
            // SQLite (one node): a worker whose clock is ahead sees the first lease as expired. PostgreSQL judges
            // leases by its own clock, so there the first worker stalls instead: its lease is moved into the past.
            let second = JobWorker(
                store: store, handlers: [handler], configuration: Self.configuration(), logger: quietLogger,
                clock: { Date().addingTimeInterval(database == .sqlite ? 5 : 0) })

            async let firstOutcome = first.runOnce()
            #expect(await eventually { handler.runCount == 1 })
            #expect(
                try await eventually {
                    if database == .postgres {
                        try await provider.withDatabase { db in try await db.raw("UPDATE jobs SET lease_expires_at = 0 WHERE id = \(bind: job.id)").run() }
                    }
                    return try await second.recoverExpiredJobs() == 1
                })
            async let secondOutcome = second.runOnce()
            #expect(await eventually { handler.runCount == 2 })

            // The first worker's next renewal is refused; it cancels its handler and leaves the job alone.
            let afterFirst = try #require(try await firstOutcome)
            #expect(afterFirst.status == .running)
            #expect(afterFirst.attempts == 2)
            let firstRun = try #require(handler.runs.withLock { $0.first })
            #expect(firstRun.wasCancelled)
            #expect(try #require(firstRun.ended) - firstRun.started < .seconds(3))
            #expect(handler.failures.withLock { $0 }.isEmpty)

            secondMayFinish.open()
            let afterSecond = try #require(try await secondOutcome)
            #expect(afterSecond.status == .succeeded)
            #expect(afterSecond.error == nil)
            #expect(afterSecond.attempts == 2)
            #expect(handler.failures.withLock { $0 }.isEmpty)
            #expect(handler.runs.withLock { $0.map(\.attempt) } == [1, 2])
        }
    }

    @Test("A handler that renews past several lease lengths keeps its job", arguments: TestDatabase.available)
    func renewal(database: TestDatabase) async throws {
        try await withJobStore(database) { store in
            let handler = ScriptedHandler(isIdempotent: false) { _, _ in try await Task.sleep(for: .milliseconds(5_000)) }
            let job = Self.job()
            try await store.enqueue(job)
            let worker = JobWorker(store: store, handlers: [handler], configuration: Self.configuration(), logger: quietLogger)
            let recovery = JobWorker(store: store, handlers: [handler], configuration: Self.configuration(), logger: quietLogger)
            async let outcome = worker.runOnce()
            #expect(await eventually { handler.runCount == 1 })
            // Another worker keeps looking for expired leases while the job runs 2.5 lease lengths.
            var recovered = 0
            let deadline = ContinuousClock.now.advanced(by: .seconds(15))
            while handler.runs.withLock({ $0.first?.ended == nil }), ContinuousClock.now < deadline {
                recovered += try await recovery.recoverExpiredJobs()
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(recovered == 0)
            #expect(try await outcome?.status == .succeeded)
            #expect(handler.failures.withLock { $0 }.isEmpty)
        }
    }

    // MARK: Failures and retries

    @Test("An idempotent job that keeps failing runs maxAttempts times, then fails once", arguments: TestDatabase.available)
    func retries(database: TestDatabase) async throws {
        try await withJobStore(database) { store in
            struct Boom: Error, CustomStringConvertible { var description: String { "boom" } }
            let handler = ScriptedHandler(isIdempotent: true) { _, _ in throw Boom() }
            let job = Self.job(maxAttempts: 3)
            try await store.enqueue(job)
            let worker = JobWorker(store: store, handlers: [handler], configuration: Self.configuration(), logger: quietLogger)
            for attempt in 1...2 {
                let after = try #require(try await worker.runOnce())
                #expect(after.status == .queued)
                #expect(after.attempts == attempt)
                #expect(after.leaseOwner == nil)
                #expect(handler.failures.withLock { $0 }.isEmpty)
            }
            let last = try #require(try await worker.runOnce())
            #expect(last.status == .failed)
            #expect(last.attempts == 3)
            #expect(last.error == "boom")
            #expect(last.finishedAt != nil)
            #expect(handler.failures.withLock { $0 } == ["boom"])
            #expect(try await worker.runOnce() == nil)
            #expect(handler.runCount == 3)
        }
    }

    @Test("An idempotent job that succeeds on its second attempt ends succeeded, jobFailed never called", arguments: TestDatabase.available)
    func retryThenSuccess(database: TestDatabase) async throws {
        try await withJobStore(database) { store in
            let handler = ScriptedHandler(isIdempotent: true) { run, _ in
                if run == 0 { throw CofferError(status: 500, code: "X", message: "transient") }
            }
            try await store.enqueue(Self.job(maxAttempts: 3))
            let worker = JobWorker(store: store, handlers: [handler], configuration: Self.configuration(), logger: quietLogger)
            #expect(try await worker.runOnce()?.status == .queued)
            let done = try #require(try await worker.runOnce())
            #expect(done.status == .succeeded)
            #expect(done.attempts == 2)
            #expect(handler.failures.withLock { $0 }.isEmpty)
        }
    }

    @Test("A non-idempotent job fails on its first error, whatever maxAttempts says", arguments: TestDatabase.available)
    func noRetryWhenNotIdempotent(database: TestDatabase) async throws {
        try await withJobStore(database) { store in
            let handler = ScriptedHandler(isIdempotent: false) { _, _ in throw CofferError(status: 500, code: "X", message: "once") }
            try await store.enqueue(Self.job(maxAttempts: 3))
            let worker = JobWorker(store: store, handlers: [handler], configuration: Self.configuration(), logger: quietLogger)
            let after = try #require(try await worker.runOnce())
            #expect(after.status == .failed)
            #expect(after.attempts == 1)
            #expect(handler.failures.withLock { $0 }.count == 1)
            #expect(try await worker.runOnce() == nil)
        }
    }

    @Test("Jobs of kinds without a handler are not claimed", arguments: TestDatabase.available)
    func unknownKinds(database: TestDatabase) async throws {
        try await withJobStore(database) { store in
            let other = Self.job("test.other")
            try await store.enqueue(other)
            let worker = JobWorker(
                store: store, handlers: [ScriptedHandler(isIdempotent: true)], configuration: Self.configuration(), logger: quietLogger)
            #expect(try await worker.runOnce() == nil)
            #expect(try await store.job(id: other.id)?.status == .queued)
        }
    }

    // MARK: Recovery

    @Test("Expired jobs: retried while attempts remain, else failed with jobFailed; live leases untouched", arguments: TestDatabase.available)
    func recovery(database: TestDatabase) async throws {
        try await withJobStore(database) { store in
            let idempotent = ScriptedHandler(kind: "test.again", isIdempotent: true)
            let once = ScriptedHandler(kind: "test.once", isIdempotent: false)
            let now = Date()
            /// Enqueues and claims a job for a dead owner whose lease ends at `leaseEnd`.
            func abandoned(_ kind: String, maxAttempts: Int, leaseEnd: Date) async throws -> Job {
                let job = Job.new(kind: kind, projectID: "P", resourceID: "R-" + Identifiers.uuid(), maxAttempts: maxAttempts, now: now)
                try await store.enqueue(job)
                return try #require(try await store.claim(kinds: [kind], owner: "dead", now: now, leaseUntil: leaseEnd))
            }
            let retried = try await abandoned("test.again", maxAttempts: 2, leaseEnd: now.addingTimeInterval(-1))
            let exhausted = try await abandoned("test.again", maxAttempts: 1, leaseEnd: now.addingTimeInterval(-1))
            let failed = try await abandoned("test.once", maxAttempts: 3, leaseEnd: now.addingTimeInterval(-1))
            let orphan = try await abandoned("test.gone", maxAttempts: 3, leaseEnd: now.addingTimeInterval(-1))
            let alive = try await abandoned("test.again", maxAttempts: 3, leaseEnd: now.addingTimeInterval(60))

            let worker = JobWorker(store: store, handlers: [idempotent, once], configuration: Self.configuration(), logger: quietLogger)
            #expect(try await worker.recoverExpiredJobs() == 4)
            #expect(try await worker.recoverExpiredJobs() == 0)

            #expect(try await store.job(id: retried.id)?.status == .queued)
            let exhaustedNow = try #require(try await store.job(id: exhausted.id))
            #expect(exhaustedNow.status == .failed)
            #expect(exhaustedNow.error?.contains("lease expired") == true)
            #expect(try await store.job(id: failed.id)?.status == .failed)
            // A kind this server has no handler for is not retried blindly.
            #expect(try await store.job(id: orphan.id)?.status == .failed)
            let aliveNow = try #require(try await store.job(id: alive.id))
            #expect(aliveNow.status == .running)
            #expect(aliveNow.leaseOwner == "dead")
            #expect(idempotent.failures.withLock { $0 }.count == 1)
            #expect(once.failures.withLock { $0 }.count == 1)

            let rerun = try #require(try await worker.runOnce())
            #expect(rerun.id == retried.id)
            #expect(rerun.status == .succeeded)
            #expect(rerun.attempts == 2)
        }
    }

    @Test("The running service recovers an expired job by itself and runs it again", arguments: TestDatabase.available)
    func recoveryLoop(database: TestDatabase) async throws {
        try await withJobStore(database) { store in
            let handler = ScriptedHandler(isIdempotent: true)
            let job = Self.job(maxAttempts: 2)
            try await store.enqueue(job)
            let now = Date()
            _ = try #require(try await store.claim(kinds: [handler.kind], owner: "dead", now: now, leaseUntil: now.addingTimeInterval(0.3)))
            let worker = JobWorker(store: store, handlers: [handler], configuration: Self.configuration(), logger: quietLogger)
            try await Self.running(worker) { _ async throws in
                #expect(try await eventually { try await store.job(id: job.id)?.status == .succeeded })
            }
            #expect(try await store.job(id: job.id)?.attempts == 2)
            #expect(handler.runCount == 1)
        }
    }

    @Test("wake() starts a new job at once instead of at the next poll", arguments: TestDatabase.available)
    func wake(database: TestDatabase) async throws {
        try await withJobStore(database) { store in
            let handler = ScriptedHandler(isIdempotent: true)
            var configuration = Self.configuration()
            configuration.pollInterval = .seconds(30)
            configuration.recoveryInterval = .seconds(30)
            let worker = JobWorker(store: store, handlers: [handler], configuration: configuration, logger: quietLogger)
            try await Self.running(worker) { _ async throws in
                // Let the loop find the queue empty and go idle.
                try await Task.sleep(for: .milliseconds(200))
                let job = Self.job()
                try await store.enqueue(job)
                worker.wake()
                #expect(try await eventually(within: .seconds(5)) { try await store.job(id: job.id)?.status == .succeeded })
            }
        }
    }

    // MARK: Graceful shutdown

    @Test("On shutdown a running job may finish within the grace period", arguments: TestDatabase.available)
    func shutdownLetsJobFinish(database: TestDatabase) async throws {
        try await withJobStore(database) { store in
            let handler = ScriptedHandler(isIdempotent: false) { _, _ in try await Task.sleep(for: .milliseconds(400)) }
            let job = Self.job()
            try await store.enqueue(job)
            let worker = JobWorker(
                store: store, handlers: [handler], configuration: Self.configuration(grace: .seconds(20)), logger: quietLogger)
            let started = ContinuousClock.now
            try await Self.running(worker) { _ async throws in
                #expect(await eventually { handler.runCount == 1 })
            }
            // Shutdown waited for the job (0.4 s), and not for the whole grace period (20 s; 4.6 s seen at load 10).
            #expect(ContinuousClock.now - started < .seconds(15))
            let after = try #require(try await store.job(id: job.id))
            #expect(after.status == .succeeded)
            #expect(handler.runs.withLock { $0.first?.wasCancelled } == false)
            #expect(handler.failures.withLock { $0 }.isEmpty)
        }
    }

    @Test(
        "After the grace period an idempotent job is released to the queue, a non-idempotent one fails",
        arguments: TestDatabase.available, [true, false])
    func shutdownAfterGrace(database: TestDatabase, idempotent: Bool) async throws {
        try await withJobStore(database) { store in
            let handler = ScriptedHandler(isIdempotent: idempotent) { _, _ in try await untilCancelled() }
            let job = Self.job(maxAttempts: 3)
            try await store.enqueue(job)
            let grace = Duration.milliseconds(600)
            let worker = JobWorker(store: store, handlers: [handler], configuration: Self.configuration(grace: grace), logger: quietLogger)
            var shutdownAt = ContinuousClock.now
            try await Self.running(worker) { _ async throws in
                #expect(await eventually { handler.runCount == 1 })
                #expect(try await store.job(id: job.id)?.status == .running)
                shutdownAt = .now
            }
            let run = try #require(handler.runs.withLock { $0.first })
            #expect(run.wasCancelled)
            // Cancelled only once the grace period was over (the lease keeper checks every 250 ms).
            let cancelledAfter = try #require(run.ended) - shutdownAt
            // 100 ms of slack: `shutdownAt` is read in the test task, the deadline in the worker's shutdown handler.
            #expect(cancelledAfter >= grace - .milliseconds(100))
            #expect(cancelledAfter < grace + .seconds(2))
            let after = try #require(try await store.job(id: job.id))
            #expect(after.leaseOwner == nil)
            if idempotent {
                #expect(after.status == .queued)
                #expect(after.attempts == 1)
                #expect(handler.failures.withLock { $0 }.isEmpty)
            } else {
                #expect(after.status == .failed)
                #expect(after.error == "interrupted by server shutdown")
                #expect(handler.failures.withLock { $0 } == ["interrupted by server shutdown"])
            }
        }
    }

    @Test("An idle worker shuts down promptly", arguments: TestDatabase.available)
    func idleShutdown(database: TestDatabase) async throws {
        try await withJobStore(database) { store in
            var configuration = Self.configuration(grace: .seconds(10))
            configuration.pollInterval = .seconds(30)
            configuration.recoveryInterval = .seconds(30)
            configuration.concurrency = 4
            let worker = JobWorker(
                store: store, handlers: [ScriptedHandler(isIdempotent: true)], configuration: configuration, logger: quietLogger)
            var stopping = ContinuousClock.now
            try await Self.running(worker) { _ async throws in
                try await Task.sleep(for: .milliseconds(100))
                stopping = .now
            }
            // Far below the 30 s poll and the 10 s grace, which a worker that waited for either would show; 5 s
            // leaves room for a PostgreSQL shared by every suite of a CI run (2.2 s seen there).
            #expect(ContinuousClock.now - stopping < .seconds(5))
        }
    }
}
