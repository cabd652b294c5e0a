import CofferCore
import CofferStorage
import CofferTestSupport
import Foundation
import Testing

@Suite("Job table", .serialized, .timeLimit(.minutes(1)))
struct JobStoreTests {
    @Test("Claim, renew, finish: only the lease owner moves a job", arguments: TestDatabase.available)
    func leases(database: TestDatabase) async throws {
        try await StoreFixtures.withStore(database) { store in
            let now = WireTime.date(epochMilliseconds: 1_715_000_000_000)
            let first = Job.new(kind: "k", projectID: "P", resourceID: "R1", now: now)
            let second = Job.new(kind: "k", projectID: "P", resourceID: "R2", now: now.addingTimeInterval(1))
            try await store.jobs.enqueue(first)
            try await store.jobs.enqueue(second)
            #expect(try await store.jobs.claim(kinds: ["other"], owner: "A", now: now, leaseUntil: now) == nil)
            let claimed = try #require(try await store.jobs.claim(kinds: ["k"], owner: "A", now: now, leaseUntil: now.addingTimeInterval(30)))
            #expect(claimed.id == first.id)
            #expect(claimed.status == .running)
            #expect(claimed.attempts == 1)
            #expect(try await store.jobs.activeJob(projectID: "P", resourceID: "R1")?.id == first.id)
            #expect(try await store.jobs.renewLease(jobID: first.id, owner: "B", until: now.addingTimeInterval(60), now: now) == false)
            #expect(try await store.jobs.renewLease(jobID: first.id, owner: "A", until: now.addingTimeInterval(60), now: now))
            #expect(try await store.jobs.finish(jobID: first.id, owner: "B", status: .succeeded, error: nil, now: now) == false)
            #expect(try await store.jobs.finish(jobID: first.id, owner: "A", status: .succeeded, error: nil, now: now))
            #expect(try await store.jobs.job(id: first.id)?.status == .succeeded)
            #expect(try await store.jobs.activeJob(projectID: "P", resourceID: "R1") == nil)
            let next = try #require(try await store.jobs.claim(kinds: ["k"], owner: "B", now: now, leaseUntil: now.addingTimeInterval(30)))
            #expect(next.id == second.id)
            #expect(try await store.jobs.release(jobID: second.id, owner: "B", now: now))
            #expect(try await store.jobs.job(id: second.id)?.status == .queued)
            #expect(try await store.jobs.jobs(projectID: "P", kindPrefix: "", from: nil, to: nil, offset: 0, limit: 10).total == 2)
        }
    }

    @Test("Progress and result: only the lease owner reports; a nil result keeps the stored one", arguments: TestDatabase.available)
    func report(database: TestDatabase) async throws {
        try await StoreFixtures.withStore(database) { store in
            let now = WireTime.date(epochMilliseconds: 1_715_000_000_000)
            let job = Job.new(kind: "k", projectID: "P", resourceID: "R1", now: now)
            try await store.jobs.enqueue(job)
            #expect(try await store.jobs.job(id: job.id)?.progress == nil)
            #expect(try await store.jobs.report(jobID: job.id, owner: "A", progress: 10, result: nil, now: now) == false)
            _ = try #require(try await store.jobs.claim(kinds: ["k"], owner: "A", now: now, leaseUntil: now.addingTimeInterval(30)))
            #expect(try await store.jobs.report(jobID: job.id, owner: "B", progress: 10, result: "{}", now: now) == false)
            #expect(try await store.jobs.report(jobID: job.id, owner: "A", progress: 40, result: #"{"point":"consistent"}"#, now: now))
            #expect(try await store.jobs.report(jobID: job.id, owner: "A", progress: 140, result: nil, now: now))
            let stored = try #require(try await store.jobs.job(id: job.id))
            #expect(stored.progress == 100)
            #expect(stored.result == #"{"point":"consistent"}"#)
        }
    }

    @Test("Expired leases are found and resolved once, as retry or failure", arguments: TestDatabase.available)
    func expiry(database: TestDatabase) async throws {
        try await StoreFixtures.withStore(database) { store in
            var clock = LeaseTestClock(database)
            let now = clock.now
            let job = Job.new(kind: "k", projectID: "P", resourceID: "R", now: now)
            try await store.jobs.enqueue(job)
            _ = try await store.jobs.claim(kinds: ["k"], owner: "dead", now: now, leaseUntil: now.addingTimeInterval(clock.shortLease))
            #expect(try await store.jobs.expiredJobs(now: clock.now).isEmpty)
            try await clock.passShortLease()
            let later = clock.now
            #expect(try await store.jobs.expiredJobs(now: later).map(\.id) == [job.id])
            #expect(try await store.jobs.resolveExpired(jobID: job.id, requeue: false, error: "lost", now: later))
            #expect(try await store.jobs.resolveExpired(jobID: job.id, requeue: false, error: "lost", now: later) == false)
            let failed = try #require(try await store.jobs.job(id: job.id))
            #expect(failed.status == .failed)
            #expect(failed.error == "lost")
            #expect(failed.finishedAt == WireTime.date(epochMilliseconds: WireTime.epochMilliseconds(later)))
            // The dead worker cannot overwrite the outcome.
            #expect(try await store.jobs.finish(jobID: job.id, owner: "dead", status: .succeeded, error: nil, now: later) == false)
        }
    }
}
