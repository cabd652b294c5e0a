import CofferCore
import CofferJobs
import CofferOperations
import CofferServer
import CofferStorage
import CofferTestSupport
import Foundation
import HTTPTypes
import NIOCore
import Logging
import ServiceLifecycle
import Synchronization
import Testing

@Suite("Jobs survive restarts and shutdowns", .timeLimit(.minutes(1)))
struct JobRecoveryTests {
    static var logger: Logger {
        var logger = Logger(label: "coffer.test.jobs")
        logger.logLevel = .critical
        return logger
    }

    @Test("After a crash, an expired blob.sweep job is queued again and then run by the new worker", arguments: TestDatabase.available)
    func restartWithExpiredLease(database: TestDatabase) async throws {
        try await TestServer.run(database: database) { server in
            let store = server.parts.store
            let now = Date()
            // A sweep was claimed by a worker that then died; its lease ran out a second ago.
            try await store.jobs.enqueue(BlobSweepJob.job(now: now))
            let claimed = try #require(
                try await store.jobs.claim(kinds: [JobKind.blobSweep.rawValue], owner: "crashed-worker", now: now, leaseUntil: now.addingTimeInterval(-1)))
            let stale = server.dataDirectory + "/blobs/incoming/left-by-crash.part"
            #expect(FileManager.default.createFile(atPath: stale, contents: Data([1, 2, 3])))
            try FileManager.default.setAttributes([.modificationDate: now.addingTimeInterval(-7200)], ofItemAtPath: stale)

            let restarted = JobWorker(
                store: store.jobs, handlers: [BlobSweepJob(blobs: store.blobs, logger: Self.logger, clock: { Date() })], logger: Self.logger)
            #expect(try await restarted.recoverExpiredJobs() == 1)
            #expect(try await store.jobs.job(id: claimed.id)?.status == .queued)
            let finished = try #require(try await restarted.runOnce())
            #expect(finished.id == claimed.id)
            #expect(finished.status == .succeeded)
            #expect(finished.attempts == 2)
            #expect(!FileManager.default.fileExists(atPath: stale))
        }
    }

    @Test("A non-idempotent job with an expired lease is failed visibly and its handler is told")
    func nonIdempotentFails() async throws {
        try await TestServer.run { server in
            let store = server.parts.store
            let handler = RecordingHandler(kind: "test.once", isIdempotent: false)
            let now = Date()
            try await store.jobs.enqueue(Job.new(kind: "test.once", projectID: server.projectID, resourceID: "r", now: now))
            _ = try await store.jobs.claim(kinds: ["test.once"], owner: "crashed", now: now, leaseUntil: now.addingTimeInterval(-1))
            let worker = JobWorker(store: store.jobs, handlers: [handler], logger: Self.logger)
            #expect(try await worker.recoverExpiredJobs() == 1)
            let job = try #require(try await store.jobs.jobs(projectID: server.projectID, kindPrefix: "", from: nil, to: nil, offset: 0, limit: 1).items.first)
            #expect(job.status == .failed)
            #expect(job.error?.contains("lease expired") == true)
            #expect(handler.failures.withLock { $0 }.count == 1)
            #expect(try await worker.runOnce() == nil)
        }
    }

    @Test("Graceful shutdown releases an idempotent job that does not finish in the grace period")
    func shutdownReleases() async throws {
        try await TestServer.run { server in
            let store = server.parts.store
            let handler = RecordingHandler(kind: "test.slow", isIdempotent: true, runsForever: true)
            let job = Job.new(kind: "test.slow", projectID: server.projectID, resourceID: "r", maxAttempts: 3, now: Date())
            try await store.jobs.enqueue(job)
            var configuration = JobWorker.Configuration()
            configuration.shutdownGrace = .milliseconds(200)
            configuration.pollInterval = .milliseconds(20)
            let worker = JobWorker(store: store.jobs, handlers: [handler], configuration: configuration, logger: Self.logger)
            let group = ServiceGroup(services: [worker], logger: Self.logger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                let deadline = ContinuousClock.now.advanced(by: .seconds(10))
                while handler.started.withLock({ $0 }) == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
                try #require(handler.started.withLock { $0 } == 1, "the worker did not start the job within 10 s")
                #expect(try await store.jobs.job(id: job.id)?.status == .running)
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            let released = try #require(try await store.jobs.job(id: job.id))
            #expect(released.status == .queued)
            #expect(released.leaseOwner == nil)
        }
    }
}

/// A handler that records what the worker does with it. It stands in for job kinds that do not exist
/// yet (a non-idempotent backup, a slow task); the idempotent recovery path above uses the real blob.sweep.
final class RecordingHandler: JobHandler {
    let kind: String
    let isIdempotent: Bool
    let runsForever: Bool
    let started = Mutex(0)
    let failures = Mutex<[String]>([])

    init(kind: String, isIdempotent: Bool, runsForever: Bool = false) {
        self.kind = kind
        self.isIdempotent = isIdempotent
        self.runsForever = runsForever
    }

    func run(_ job: Job) async throws {
        self.started.withLock { $0 += 1 }
        if self.runsForever { try await Task.sleep(for: .seconds(3600)) }
    }

    func jobFailed(_ job: Job, reason: String) async {
        self.failures.withLock { $0.append(reason) }
    }
}
