import CofferCore
import CofferTestSupport
import Foundation
import Testing

@testable import CofferStorage

/// The signing-key cache may never authenticate with state older than this node's own last identity write,
/// and sees another node's writes once an entry's lifetime has passed.
@Suite("Signing-key cache", .timeLimit(.minutes(1)))
struct SigningKeyCacheTests {
    @Test("Reused between reads; forgotten on password change, failure count, user deletion; another node's write seen after the lifetime", arguments: TestDatabase.available)
    func invalidation(database: TestDatabase) async throws {
        try await database.withProvider { provider in
            let secrets = SecretBox(masterKey: .random())
            // Two nodes on one database: `node` caches for a long time, `other` writes.
            let node = SQLIdentityStore(provider: provider, secrets: secrets, signingKeyLifetime: .seconds(3600))
            let other = SQLIdentityStore(provider: provider, secrets: secrets, signingKeyLifetime: .milliseconds(200))
            let now = WireTime.date(epochMilliseconds: 1_715_000_000_000)
            let domain = Domain(id: Identifiers.hex32(), name: "coffer", createdAt: now)
            try await node.insertDomain(domain)
            let project = Project(id: Identifiers.hex32(), domainID: domain.id, name: "p", createdAt: now)
            try await node.insertProject(project)
            let user = User(
                id: Identifiers.hex32(), domainID: domain.id, projectID: project.id, name: "u", passwordHash: "h", passwordChangedAt: now,
                createdAt: now)
            try await node.insertUser(user)
            try await node.insertAccessKey(AccessKey(accessKey: "AK1", secretKey: "SK1", userID: user.id, createdAt: now))

            let first = try #require(try await node.signingKey("AK1"))
            #expect(first.key.secretKey == "SK1" && first.principal?.user.id == user.id)

            // A write through another node is not seen while the entry lives (that is the cache working)…
            _ = try await other.recordAccessKeyFailure("AK1", now: now, limit: 5, lockDuration: 300)
            #expect(try await node.signingKey("AK1")?.key.failures == 0)
            // …but this node's own writes are seen at once.
            _ = try await node.recordAccessKeyFailure("AK1", now: now, limit: 5, lockDuration: 300)
            #expect(try await node.signingKey("AK1")?.key.failures == 2)
            let later = now.addingTimeInterval(60)
            try await node.updatePassword(userID: user.id, passwordHash: "h2", changedAt: later)
            #expect(try await node.signingKey("AK1")?.principal?.user.passwordChangedAt == later)
            try await node.resetAccessKeyFailures("AK1")
            #expect(try await node.signingKey("AK1")?.key.failures == 0)
            try await node.deleteUser(id: user.id)
            #expect(try await node.signingKey("AK1") == nil)

            // The short-lived node sees the first node's deletion once its entry expired.
            let user2 = User(
                id: Identifiers.hex32(), domainID: domain.id, projectID: project.id, name: "u2", passwordHash: "h", passwordChangedAt: now,
                createdAt: now)
            try await node.insertUser(user2)
            try await node.insertAccessKey(AccessKey(accessKey: "AK2", secretKey: "SK2", userID: user2.id, createdAt: now))
            #expect(try await other.signingKey("AK2")?.principal?.user.id == user2.id)
            try await node.deleteUser(id: user2.id)
            try await Task.sleep(for: .milliseconds(250))
            #expect(try await other.signingKey("AK2") == nil)
        }
    }
}
