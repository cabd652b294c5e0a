import CofferCore
import CofferStorage
import CofferTestSupport
import Foundation
import Testing

/// Login lockout bookkeeping and the one-query identity reads, on every database engine.
@Suite("Identity store: lockout and joined reads", .serialized)
struct IdentityStoreTests {
    @Test("Five claimed attempts lock a user until the lock lapses; a reset clears count and lock", arguments: TestDatabase.available)
    func loginLockout(database: TestDatabase) async throws {
        try await StoreFixtures.withStore(database) { store in
            let now = WireTime.date(epochMilliseconds: 1_700_000_000_000)
            let (_, _, user) = try await StoreFixtures.account(store, project: "p", user: "alice", accessKey: "AK1", secret: "s", now: now)
            let ids = store.identities
            func claim(at date: Date) async throws -> Bool {
                try await ids.claimLoginAttempt(userID: user.id, now: date, limit: 5, lockDuration: 900)
            }
            for _ in 0..<4 { #expect(try await claim(at: now)) }
            try await ids.resetLoginFailures(userID: user.id)
            for _ in 0..<5 { #expect(try await claim(at: now), "the reset restarted the count") }
            #expect(try await claim(at: now) == false, "the fifth attempt set the lock")
            #expect(try await claim(at: now.addingTimeInterval(899)) == false)
            #expect(try await claim(at: now.addingTimeInterval(900)), "the lock ends at lock time + duration")
            for _ in 0..<4 { #expect(try await claim(at: now.addingTimeInterval(900))) }
            #expect(try await claim(at: now.addingTimeInterval(900)) == false, "five more attempts lock again")
            try await ids.resetLoginFailures(userID: user.id)
            #expect(try await claim(at: now), "a reset lifts a lock")
            #expect(try await ids.claimLoginAttempt(userID: "nobody", now: now, limit: 5, lockDuration: 900) == false)
        }
    }

    @Test("Two servers on one database racing 24 attempts: exactly five pass", arguments: TestDatabase.available)
    func loginLockoutRace(database: TestDatabase) async throws {
        try await database.withFreshURL { url in
            let logger = TestDatabase.logger
            let first = try await DatabaseURL.open(url, logger: logger)
            let second = try await DatabaseURL.open(url, logger: logger)
            // Each provider runs as its service for the scope (the PostgreSQL client's run()).
            try await withRunning(first) {
                try await withRunning(second) {
                    try await Migrations.apply(on: first, logger: logger)
                    let directory = try TemporaryDirectory(prefix: "coffer-store")
                    defer { directory.remove() }
                    let key = MasterKey.random()
                    let stores = [
                        try CofferStore(dataDirectory: directory.path, provider: first, masterKey: key),
                        try CofferStore(dataDirectory: directory.path, provider: second, masterKey: key),
                    ]
                    let now = Date()
                    let (_, _, user) = try await StoreFixtures.account(
                        stores[0], project: "p", user: "bob", accessKey: "AK2", secret: "s", now: now)
                    let passed = try await withThrowingTaskGroup(of: Bool.self) { group in
                        for attempt in 0..<24 {
                            let identities = stores[attempt % 2].identities
                            group.addTask { try await identities.claimLoginAttempt(userID: user.id, now: now, limit: 5, lockDuration: 900) }
                        }
                        return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
                    }
                    #expect(passed == 5)
                }
            }
        }
    }

    @Test("The joined reads return what separate reads return", arguments: TestDatabase.available)
    func joinedReads(database: TestDatabase) async throws {
        try await StoreFixtures.withStore(database) { store in
            let now = WireTime.date(epochMilliseconds: 1_700_000_000_123)
            let (_, project, user) = try await StoreFixtures.account(
                store, project: "local-1", user: "carol", accessKey: "AK3", secret: "the-secret", now: now)
            let ids = store.identities
            _ = try await ids.recordAccessKeyFailure("AK3", now: now, limit: 5, lockDuration: 300)

            let found = try #require(try await ids.signingKey("AK3"))
            #expect(found.key == (try await ids.accessKey("AK3")))
            #expect(found.key.failures == 1)
            #expect(found.principal == Principal(user: user, project: project, accessKey: "AK3"))
            #expect(try await ids.signingKey("AKNOBODY") == nil)

            #expect(try await ids.principal(userID: user.id, projectID: project.id) == Principal(user: user, project: project, accessKey: nil))
            #expect(try await ids.principal(userID: user.id, projectID: "no-such-project") == nil)
            #expect(try await ids.principal(userID: "no-such-user", projectID: project.id) == nil)
            try await ids.deleteUser(id: user.id)
            #expect(try await ids.principal(userID: user.id, projectID: project.id) == nil)
            #expect(try await ids.signingKey("AK3") == nil)
        }
    }
}
