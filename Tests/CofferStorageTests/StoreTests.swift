import CofferCore
import CofferStorage
import CofferTestSupport
import Foundation
import Logging
import SQLKit
import Testing

/// The same store suite on every database engine.
@Suite("SQL stores", .serialized, .timeLimit(.minutes(1)))
struct StoreTests {
    /// Skipped (not passed) on a developer machine without PostgreSQL; in CI, or whenever a server is named,
    /// the URL must be set and the server must answer, or the PostgreSQL half of every store suite is missing.
    @Test(
        "PostgreSQL is part of the run in CI, and the configured server answers",
        .enabled(if: ProcessInfo.processInfo.environment["CI"] == "true" || TestDatabase.postgresURL != nil))
    func postgresConfiguredInCI() async throws {
        let url = try #require(TestDatabase.postgresURL, "CI must run the store suites on PostgreSQL too (COFFER_TEST_POSTGRES_URL)")
        let provider = try await DatabaseURL.open(url, logger: TestDatabase.logger)
        let version = try await withRunning(provider) {
            try await provider.withDatabase { db in
                try await db.raw("SELECT version() AS version").first()?.decode(column: "version", as: String.self)
            }
        }
        #expect(version?.hasPrefix("PostgreSQL") == true, "\(version ?? "no answer")")
    }

    @Test("Migrations are recorded and applying them again does nothing", arguments: TestDatabase.available)
    func migrationsAreIdempotent(database: TestDatabase) async throws {
        try await database.withProvider { provider in
            let again = try await Migrations.apply(on: provider, logger: .init(label: "test"))
            #expect(again.isEmpty)
            let ids = try await provider.withDatabase { db in
                try await db.raw("SELECT id FROM schema_migrations ORDER BY id").all().map { try $0.decode(column: "id", as: String.self) }
            }
            #expect(ids == Migrations.all.map(\.id))
        }
    }

    @Test("Identity round trip; secret keys are sealed at rest", arguments: TestDatabase.available)
    func identities(database: TestDatabase) async throws {
        try await StoreFixtures.withStore(database) { store in
            let now = WireTime.date(epochMilliseconds: 1_700_000_000_123)
            let (domain, project, user) = try await StoreFixtures.account(
                store, project: "local-1", user: "alice", accessKey: "AK1", secret: "the-secret", now: now)

            #expect(try await store.identities.isEmpty() == false)
            #expect(try await store.identities.domain(named: "coffer") == domain)
            #expect(try await store.identities.project(id: project.id) == project)
            #expect(try await store.identities.projects(named: "local-1", domainID: nil) == [project])
            #expect(try await store.identities.user(named: "alice", domainID: domain.id) == user)
            let key = try #require(try await store.identities.accessKey("AK1"))
            #expect(key.secretKey == "the-secret")
            let raw = try await store.provider.withDatabase { db in
                try await db.raw("SELECT secret_sealed FROM access_keys").first()?.decode(column: "secret_sealed", as: String.self)
            }
            #expect(raw?.contains("the-secret") == false)
            #expect(raw?.hasPrefix("v1:") == true)

            let changed = now.addingTimeInterval(60)
            try await store.identities.updatePassword(userID: user.id, passwordHash: "h2", changedAt: changed)
            #expect(try await store.identities.user(id: user.id)?.passwordChangedAt == changed)
            try await store.identities.deleteUser(id: user.id)
            #expect(try await store.identities.user(id: user.id) == nil)
            #expect(try await store.identities.accessKey("AK1") == nil)
        }
    }

    @Test("Five failures lock an access key; a success resets the count", arguments: TestDatabase.available)
    func accessKeyLockout(database: TestDatabase) async throws {
        try await StoreFixtures.withStore(database) { store in
            let now = Date()
            _ = try await StoreFixtures.account(store, project: "p", user: "bob", accessKey: "AK2", secret: "s", now: now)
            for _ in 0..<2 { _ = try await store.identities.recordAccessKeyFailure("AK2", now: now, limit: 5, lockDuration: 300) }
            try await store.identities.resetAccessKeyFailures("AK2")
            #expect(try await store.identities.accessKey("AK2")?.failures == 0)
            var key: AccessKey?
            for _ in 0..<4 { key = try await store.identities.recordAccessKeyFailure("AK2", now: now, limit: 5, lockDuration: 300) }
            #expect(key?.failures == 4)
            #expect(key?.lockedUntil == nil)
            key = try await store.identities.recordAccessKeyFailure("AK2", now: now, limit: 5, lockDuration: 300)
            let lockedUntil = try #require(key?.lockedUntil)
            #expect(abs(lockedUntil.timeIntervalSince(now) - 300) < 1)
        }
    }

    @Test("Backup list: project and instance scope, newest first, time window, total across pages", arguments: TestDatabase.available)
    func backupList(database: TestDatabase) async throws {
        try await StoreFixtures.withStore(database) { store in
            let base = WireTime.date(epochMilliseconds: 1_715_000_000_000)
            try await store.dcs.insertInstance(StoreFixtures.instance(project: "P1", name: "cache", id: "I1"))
            let mine = (0..<25).map { StoreFixtures.backup(project: "P1", instance: "I1", createdAt: base.addingTimeInterval(Double($0) * 60)) }
            for record in mine { try await store.dcs.insertBackup(record) }
            try await store.dcs.insertBackup(StoreFixtures.backup(project: "P1", instance: "I2", createdAt: base))
            try await store.dcs.insertBackup(StoreFixtures.backup(project: "P2", instance: "I1", createdAt: base))

            var seen: [String] = []
            for offset in stride(from: 0, to: 30, by: 10) {
                let page = try await store.dcs.backups(DCSBackupQuery(projectID: "P1", instanceID: "I1", begin: nil, end: nil, offset: offset, limit: 10))
                #expect(page?.total == 25)
                seen += page?.items.map(\.id) ?? []
            }
            #expect(seen == mine.reversed().map(\.id))

            let window = try await store.dcs.backups(
                DCSBackupQuery(
                    projectID: "P1", instanceID: "I1", begin: base.addingTimeInterval(5 * 60), end: base.addingTimeInterval(9 * 60), offset: 0,
                    limit: 100))
            #expect(window?.total == 5)
            #expect(window?.items.map(\.id) == mine[5...9].reversed().map(\.id))
            #expect(window?.items.first == mine[9])
            // The list answers nil (no such instance) for another project's instance and for a deleted one,
            // although their backup rows exist.
            #expect(try await store.dcs.backups(DCSBackupQuery(projectID: "P2", instanceID: "I1", begin: nil, end: nil, offset: 0, limit: 10)) == nil)
            #expect(try await store.dcs.backups(DCSBackupQuery(projectID: "P1", instanceID: "I2", begin: nil, end: nil, offset: 0, limit: 10)) == nil)
            let pastTheEnd = try await store.dcs.backups(DCSBackupQuery(projectID: "P1", instanceID: "I1", begin: nil, end: nil, offset: 40, limit: 10))
            #expect(pastTheEnd?.items.isEmpty == true && pastTheEnd?.total == 25)

            var deleted = mine[0]
            deleted.status = .deleted
            try await store.dcs.updateBackup(deleted)
            #expect(try await store.dcs.backup(projectID: "P1", instanceID: "I1", id: deleted.id)?.status == .deleted)
            #expect(try await store.dcs.backup(projectID: "P2", instanceID: "I1", id: deleted.id) == nil)
        }
    }

    @Test("Instances: sealed password, filters, soft delete, project isolation", arguments: TestDatabase.available)
    func instances(database: TestDatabase) async throws {
        try await StoreFixtures.withStore(database) { store in
            let base = WireTime.date(epochMilliseconds: 1_715_000_000_000)
            let a = StoreFixtures.instance(project: "P1", name: "cache-a", createdAt: base)
            let b = StoreFixtures.instance(project: "P1", name: "cache-b", createdAt: base.addingTimeInterval(1))
            let other = StoreFixtures.instance(project: "P2", name: "cache-a", createdAt: base)
            for instance in [a, b, other] { try await store.dcs.insertInstance(instance) }
            #expect(try await store.dcs.instance(projectID: "P1", id: a.id) == a)
            #expect(try await store.dcs.instance(projectID: "P2", id: a.id) == nil)
            let raw = try await store.provider.withDatabase { db in
                try await db.raw("SELECT password_sealed FROM dcs_instances WHERE id = \(bind: a.id)").first()?
                    .decode(column: "password_sealed", as: String.self)
            }
            #expect(raw?.contains("s3cret") == false)

            let all = try await store.dcs.instances(projectID: "P1", filter: DCSInstanceFilter())
            #expect(all.total == 2)
            #expect(all.items.map(\.id) == [b.id, a.id])
            #expect(try await store.dcs.instances(projectID: "P1", filter: DCSInstanceFilter(name: "B")).items.map(\.id) == [b.id])
            #expect(try await store.dcs.instances(projectID: "P1", filter: DCSInstanceFilter(name: "cache", nameEqual: true)).total == 0)
            #expect(try await store.dcs.instanceNameExists(projectID: "P1", name: "cache-a"))

            var renamed = a
            renamed.name = "cache-z"
            renamed.updatedAt = base.addingTimeInterval(10)
            try await store.dcs.updateInstance(renamed)
            #expect(try await store.dcs.instance(projectID: "P1", id: a.id)?.name == "cache-z")

            _ = try await store.dcs.deleteInstance(projectID: "P1", id: a.id, at: base.addingTimeInterval(20))
            #expect(try await store.dcs.instance(projectID: "P1", id: a.id) == nil)
            #expect(try await store.dcs.instances(projectID: "P1", filter: DCSInstanceFilter()).total == 1)
            #expect(try await store.dcs.instanceNameExists(projectID: "P1", name: "cache-z") == false)
        }
    }
}
