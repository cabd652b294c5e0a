import CofferCore
import CofferStorage
import CofferTestSupport
import Foundation
import SQLKit
import Synchronization
import Testing

/// Several nodes on one database (issue 10): claims that race, leases judged by the database clock, the lease
/// rows of elected work, the master key check. PostgreSQL is where these matter; SQLite's answers are pinned too.
@Suite("Several nodes on one database", .serialized, .timeLimit(.minutes(1)))
struct MultiNodeStoreTests {
    @Test("Racing claimers: no job claimed twice, and none comes back empty while jobs are still queued", arguments: TestDatabase.available)
    func racingClaims(database: TestDatabase) async throws {
        try await StoreFixtures.withStore(database) { store in
            let count = 120
            let claimers = 8
            let now = Date()
            for index in 0..<count {
                try await store.jobs.enqueue(
                    Job.new(kind: "k", projectID: "P", resourceID: "R\(index)", now: now.addingTimeInterval(Double(index) / 1000)))
            }
            let provider = store.provider
            // Each claimer takes jobs until a claim comes back empty; at that moment it counts the queued jobs that
            // no other claimer holds a lock on (`SKIP LOCKED`): a claim that lost a race and gave up leaves many.
            let results = try await withThrowingTaskGroup(of: (claimed: [String], leftWhenEmpty: Int).self) { group in
                for claimer in 0..<claimers {
                    group.addTask {
                        var claimed: [String] = []
                        while let job = try await store.jobs.claim(
                            kinds: ["k"], owner: "node-\(claimer)", now: Date(), leaseUntil: Date().addingTimeInterval(30))
                        {
                            #expect(job.leaseOwner == "node-\(claimer)")
                            claimed.append(job.id)
                        }
                        let left = try await provider.withDatabase { db in
                            try await db.raw("SELECT count(*) AS n FROM jobs WHERE status = 'queued'").first()?.decode(column: "n", as: Int64.self) ?? 0
                        }
                        return (claimed, Int(left))
                    }
                }
                var all: [(claimed: [String], leftWhenEmpty: Int)] = []
                for try await result in group { all.append(result) }
                return all
            }
            let ids = results.flatMap(\.claimed)
            #expect(ids.count == count)
            #expect(Set(ids).count == count)
            // Only claims still in flight on other connections may be queued when a claimer finds nothing.
            #expect(results.allSatisfy { $0.leftWhenEmpty <= claimers - 1 }, "left: \(results.map(\.leftWhenEmpty))")
            let running = try await provider.withDatabase { db in
                try await db.raw("SELECT count(*) AS n FROM jobs WHERE status = 'running'").first()?.decode(column: "n", as: Int64.self)
            }
            #expect(running == Int64(count))
        }
    }

    @Test("A node whose clock runs ahead does not see a live lease as expired on PostgreSQL (SQLite: one node, its clock)", arguments: TestDatabase.available)
    func databaseClockJudges(database: TestDatabase) async throws {
        try await StoreFixtures.withStore(database) { store in
            let now = Date()
            let job = Job.new(kind: "k", projectID: "P", resourceID: "R", now: now)
            try await store.jobs.enqueue(job)
            let claimed = try #require(try await store.jobs.claim(kinds: ["k"], owner: "A", now: now, leaseUntil: now.addingTimeInterval(30)))
            // The lease's end is the database's clock plus the 30 s asked for.
            let leaseEnd = try #require(claimed.leaseExpiresAt)
            #expect(abs(leaseEnd.timeIntervalSince(now) - 30) < 5)
            let skewed = now.addingTimeInterval(60)
            let renewedSkewed = try await store.jobs.renewLease(jobID: job.id, owner: "A", until: skewed.addingTimeInterval(30), now: skewed)
            #expect(renewedSkewed)
            switch database {
            case .postgres:
                // Renewed by a node 60 s ahead: still ~30 s from the database's now, not 90 s.
                let renewed = try #require(try await store.jobs.job(id: job.id)?.leaseExpiresAt)
                #expect(abs(renewed.timeIntervalSince(now) - 30) < 5)
                #expect(try await store.jobs.expiredJobs(now: skewed).isEmpty)
                #expect(try await store.jobs.resolveExpired(jobID: job.id, requeue: true, error: "lost", now: skewed) == false)
                #expect(try await store.jobs.job(id: job.id)?.leaseOwner == "A")
                // A node whose clock is behind still sees an expired lease expire.
                let short = Job.new(kind: "s", projectID: "P", resourceID: "S", now: now)
                try await store.jobs.enqueue(short)
                _ = try #require(try await store.jobs.claim(kinds: ["s"], owner: "B", now: now, leaseUntil: now.addingTimeInterval(0.3)))
                try await Task.sleep(for: .milliseconds(600))
                let behind = Date().addingTimeInterval(-60)
                #expect(try await store.jobs.expiredJobs(now: behind).map(\.id) == [short.id])
                #expect(try await store.jobs.resolveExpired(jobID: short.id, requeue: true, error: "lost", now: behind))
            case .sqlite:
                #expect(try await store.jobs.expiredJobs(now: skewed.addingTimeInterval(31)).map(\.id) == [job.id])
            }
        }
    }

    @Test("Lease rows: one holder, renewal, takeover after expiry, release", arguments: TestDatabase.available)
    func leases(database: TestDatabase) async throws {
        try await StoreFixtures.withStore(database) { store in
            let leases = store.leases
            var clock = LeaseTestClock(database)
            #expect(try await leases.holder(name: "tick", now: clock.now) == nil)
            #expect(try await leases.acquire(name: "tick", owner: "A", duration: clock.shortLease, now: clock.now))
            #expect(try await leases.acquire(name: "tick", owner: "B", duration: clock.shortLease, now: clock.now) == false)
            #expect(try await leases.acquire(name: "tick", owner: "A", duration: clock.shortLease, now: clock.now))
            #expect(try await leases.holder(name: "tick", now: clock.now) == "A")
            #expect(try await leases.acquire(name: "other", owner: "B", duration: clock.shortLease, now: clock.now))
            try await clock.passShortLease()
            #expect(try await leases.acquire(name: "tick", owner: "B", duration: 30, now: clock.now))
            #expect(try await leases.acquire(name: "tick", owner: "A", duration: 30, now: clock.now) == false)
            try await leases.release(name: "tick", owner: "A")
            #expect(try await leases.holder(name: "tick", now: clock.now) == "B")
            try await leases.release(name: "tick", owner: "B")
            #expect(try await leases.acquire(name: "tick", owner: "A", duration: 30, now: clock.now))
            if database == .postgres {
                // A node 60 s ahead cannot take a live lease: the database clock judges.
                #expect(try await leases.acquire(name: "tick", owner: "C", duration: 30, now: Date().addingTimeInterval(60)) == false)
            }
        }
    }

    @Test("Master key check: the first start stores it, the same key passes, another key is refused", arguments: TestDatabase.available)
    func masterKeyCheck(database: TestDatabase) async throws {
        try await database.withProvider { provider in
            let key = MasterKey.random()
            try await MasterKeyCheck.verify(key, provider: provider, keySource: "from /data/master.key")
            let stored = try await provider.withDatabase { db in
                try await db.raw("SELECT value FROM coffer_settings WHERE name = 'master_key_check'").first()?.decode(column: "value", as: String.self)
            }
            #expect(stored == MasterKeyCheck.value(of: key))
            try await MasterKeyCheck.verify(key, provider: provider, keySource: "from /data/master.key")
            let error = await #expect(throws: StorageError.self) {
                try await MasterKeyCheck.verify(MasterKey.random(), provider: provider, keySource: "from COFFER_MASTER_KEY")
            }
            let message = error.map { "\($0)" } ?? ""
            #expect(message.contains("from COFFER_MASTER_KEY"))
            #expect(message.contains("master.key"))
            // The stored value stays the first key's.
            try await MasterKeyCheck.verify(key, provider: provider, keySource: "again")
        }
    }

    @Test("COFFER_MASTER_KEY gives the key instead of the file; a malformed value is refused")
    func masterKeyFromEnvironment() throws {
        let directory = try TemporaryDirectory(prefix: "coffer-key")
        defer { directory.remove() }
        let file = directory.path + "/master.key"
        let (fileKey, fileSource) = try MasterKey.load(keyFile: file, environment: [:])
        #expect(fileSource.contains(file))
        let text = try String(contentsOfFile: file, encoding: .utf8)
        let (envKey, envSource) = try MasterKey.load(keyFile: directory.path + "/absent.key", environment: ["COFFER_MASTER_KEY": text])
        #expect(envSource.contains("COFFER_MASTER_KEY"))
        #expect(MasterKeyCheck.value(of: envKey) == MasterKeyCheck.value(of: fileKey))
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/absent.key"))
        #expect(throws: StorageError.self) { try MasterKey.load(keyFile: file, environment: ["COFFER_MASTER_KEY": "c2hvcnQ="]) }
    }

    @Test("A store opened with another master key refuses to start; the first key still opens it", arguments: TestDatabase.available)
    func storeRefusesOtherKey(database: TestDatabase) async throws {
        try await database.withFreshURL { url in
            let first = try TemporaryDirectory(prefix: "coffer-node-a")
            let second = try TemporaryDirectory(prefix: "coffer-node-b")
            defer {
                first.remove()
                second.remove()
            }
            let logger = TestDatabase.logger
            try await CofferStore.withStore(dataDirectory: first.path, databaseURL: url, logger: logger) { _ in }
            // Another node with a data directory of its own: a new master.key is made, and refused.
            await #expect(throws: StorageError.self) {
                try await CofferStore.withStore(dataDirectory: second.path, databaseURL: url, logger: logger) { _ in }
            }
            let key = try String(contentsOfFile: first.path + "/master.key", encoding: .utf8)
            let store = try await CofferStore.open(
                dataDirectory: second.path, databaseURL: url, logger: logger, environment: ["COFFER_MASTER_KEY": key])
            try await withRunning(store) { try await store.migrate(logger: logger) }
        }
    }
}
