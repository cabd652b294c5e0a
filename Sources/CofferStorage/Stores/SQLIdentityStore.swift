import CofferCore
import Foundation
import SQLKit

/// `IdentityStore` over SQL. Secret keys are sealed with the `SecretBox` before they are written.
package struct SQLIdentityStore: IdentityStore {
    private let provider: any DatabaseProvider
    private let secrets: SecretBox

    package init(provider: any DatabaseProvider, secrets: SecretBox) {
        self.provider = provider
        self.secrets = secrets
    }

    package func insertDomain(_ domain: Domain) async throws {
        try await self.provider.withDatabase { db in
            try await db.raw(
                "INSERT INTO domains (id, name, created_at) VALUES (\(bind: domain.id), \(bind: domain.name), \(bind: millis(domain.createdAt)))"
            ).run()
        }
    }

    package func domain(named name: String) async throws -> Domain? {
        try await self.provider.withDatabase { db in
            try await db.raw("SELECT * FROM domains WHERE name = \(bind: name)").first().map(Self.domain)
        }
    }

    package func domain(id: String) async throws -> Domain? {
        try await self.provider.withDatabase { db in
            try await db.raw("SELECT * FROM domains WHERE id = \(bind: id)").first().map(Self.domain)
        }
    }

    package func insertProject(_ project: Project) async throws {
        try await self.provider.withDatabase { db in
            try await db.raw(
                """
                INSERT INTO projects (id, domain_id, name, created_at)
                VALUES (\(bind: project.id), \(bind: project.domainID), \(bind: project.name), \(bind: millis(project.createdAt)))
                """
            ).run()
        }
    }

    package func project(id: String) async throws -> Project? {
        try await self.provider.withDatabase { db in
            try await db.raw("SELECT * FROM projects WHERE id = \(bind: id)").first().map(Self.project)
        }
    }

    package func projects(named name: String?, domainID: String?) async throws -> [Project] {
        try await self.provider.withDatabase { db in
            let query = db.select().column("*").from("projects")
            if let name { query.where("name", .equal, name) }
            if let domainID { query.where("domain_id", .equal, domainID) }
            return try await query.orderBy("created_at").all().map(Self.project)
        }
    }

    package func insertUser(_ user: User) async throws {
        try await self.provider.withDatabase { db in
            try await db.raw(
                """
                INSERT INTO users (id, domain_id, project_id, name, password_hash, password_changed_at, created_at)
                VALUES (\(bind: user.id), \(bind: user.domainID), \(bind: user.projectID), \(bind: user.name),
                        \(bind: user.passwordHash), \(bind: millis(user.passwordChangedAt)), \(bind: millis(user.createdAt)))
                """
            ).run()
        }
    }

    package func user(id: String) async throws -> User? {
        try await self.provider.withDatabase { db in
            try await db.raw("SELECT * FROM users WHERE id = \(bind: id)").first().map(Self.user)
        }
    }

    package func user(named name: String, domainID: String) async throws -> User? {
        try await self.provider.withDatabase { db in
            try await db.raw("SELECT * FROM users WHERE name = \(bind: name) AND domain_id = \(bind: domainID)").first().map(Self.user)
        }
    }

    package func users(named name: String) async throws -> [User] {
        try await self.provider.withDatabase { db in
            try await db.raw("SELECT * FROM users WHERE name = \(bind: name) ORDER BY created_at").all().map(Self.user)
        }
    }

    package func updatePassword(userID: String, passwordHash: String, changedAt: Date) async throws {
        try await self.provider.withDatabase { db in
            try await db.raw(
                "UPDATE users SET password_hash = \(bind: passwordHash), password_changed_at = \(bind: millis(changedAt)) WHERE id = \(bind: userID)"
            ).run()
        }
    }

    package func deleteUser(id: String) async throws {
        try await self.provider.withTransaction { db in
            try await db.raw("DELETE FROM access_keys WHERE user_id = \(bind: id)").run()
            try await db.raw("DELETE FROM users WHERE id = \(bind: id)").run()
        }
    }

    package func insertAccessKey(_ key: AccessKey) async throws {
        let sealed = try self.secrets.seal(key.secretKey)
        try await self.provider.withDatabase { db in
            try await db.raw(
                """
                INSERT INTO access_keys (access_key, secret_sealed, user_id, created_at, failures, locked_until)
                VALUES (\(bind: key.accessKey), \(bind: sealed), \(bind: key.userID), \(bind: millis(key.createdAt)),
                        \(bind: Int64(key.failures)), \(bind: millis(key.lockedUntil)))
                """
            ).run()
        }
    }

    package func accessKey(_ accessKey: String) async throws -> AccessKey? {
        let row = try await self.provider.withDatabase { db in
            try await db.raw("SELECT * FROM access_keys WHERE access_key = \(bind: accessKey)").first()
        }
        return try row.map(self.accessKey(row:))
    }

    package func recordAccessKeyFailure(_ accessKey: String, now: Date, limit: Int, lockDuration: TimeInterval) async throws -> AccessKey? {
        let row = try await self.provider.withTransaction { db -> (any SQLRow)? in
            try await db.raw("UPDATE access_keys SET failures = failures + 1 WHERE access_key = \(bind: accessKey)").run()
            let lockUntil = millis(now.addingTimeInterval(lockDuration))
            // The counter restarts once a lock is set, so the next five failures after the lock lapses lock again.
            try await db.raw(
                """
                UPDATE access_keys SET locked_until = \(bind: lockUntil), failures = 0
                WHERE access_key = \(bind: accessKey) AND failures >= \(bind: Int64(limit))
                """
            ).run()
            return try await db.raw("SELECT * FROM access_keys WHERE access_key = \(bind: accessKey)").first()
        }
        return try row.map(self.accessKey(row:))
    }

    package func resetAccessKeyFailures(_ accessKey: String) async throws {
        try await self.provider.withDatabase { db in
            try await db.raw("UPDATE access_keys SET failures = 0 WHERE access_key = \(bind: accessKey) AND failures <> 0").run()
        }
    }

    package func isEmpty() async throws -> Bool {
        try await self.provider.withDatabase { db in
            try await db.raw("SELECT id FROM domains LIMIT 1").first() == nil
        }
    }

    private static func domain(_ row: any SQLRow) throws -> Domain {
        Domain(id: try row.string("id"), name: try row.string("name"), createdAt: try row.date("created_at"))
    }

    private static func project(_ row: any SQLRow) throws -> Project {
        Project(
            id: try row.string("id"), domainID: try row.string("domain_id"), name: try row.string("name"),
            createdAt: try row.date("created_at"))
    }

    private static func user(_ row: any SQLRow) throws -> User {
        User(
            id: try row.string("id"), domainID: try row.string("domain_id"), projectID: try row.string("project_id"),
            name: try row.string("name"), passwordHash: try row.string("password_hash"),
            passwordChangedAt: try row.date("password_changed_at"), createdAt: try row.date("created_at"))
    }

    private func accessKey(row: any SQLRow) throws -> AccessKey {
        AccessKey(
            accessKey: try row.string("access_key"), secretKey: try self.secrets.open(try row.string("secret_sealed")),
            userID: try row.string("user_id"), createdAt: try row.date("created_at"), failures: try row.int("failures"),
            lockedUntil: try row.optionalDate("locked_until"))
    }
}
