import CofferCore
import Foundation
import SQLKit

/// `IdentityStore` over SQL. Secret keys are sealed with the `SecretBox` before they are written.
package struct SQLIdentityStore: IdentityStore {
    private let provider: any DatabaseProvider
    private let secrets: SecretBox
    private let signingKeys: SigningKeyCache

    /// - Parameter signingKeyLifetime: how long a signing key read from the database is reused (see ``SigningKeyCache``).
    package init(provider: any DatabaseProvider, secrets: SecretBox, signingKeyLifetime: Duration = .seconds(1)) {
        self.provider = provider
        self.secrets = secrets
        self.signingKeys = SigningKeyCache(lifetime: signingKeyLifetime)
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
        defer { self.signingKeys.invalidate() }
        try await self.provider.withDatabase { db in
            try await db.raw(
                "UPDATE users SET password_hash = \(bind: passwordHash), password_changed_at = \(bind: millis(changedAt)) WHERE id = \(bind: userID)"
            ).run()
        }
    }

    package func deleteUser(id: String) async throws {
        defer { self.signingKeys.invalidate() }
        try await self.provider.withTransaction { db in
            try await db.raw("DELETE FROM access_keys WHERE user_id = \(bind: id)").run()
            try await db.raw("DELETE FROM users WHERE id = \(bind: id)").run()
        }
    }

    package func principal(userID: String, projectID: String) async throws -> Principal? {
        try await self.provider.withDatabase { db in
            // Two primary-key lookups in one round trip. The project is the token's, joined by its id (not
            // through users.project_id), exactly as two separate reads would find it.
            try await db.raw(
                """
                SELECT \(unsafeRaw: Self.userColumns), \(unsafeRaw: Self.projectColumns)
                FROM users u JOIN projects p ON p.id = \(bind: projectID)
                WHERE u.id = \(bind: userID)
                """
            ).first().map { row in
                Principal(user: try Self.user(row, prefix: "u_"), project: try Self.project(row, prefix: "p_"), accessKey: nil)
            }
        }
    }

    package func claimLoginAttempt(userID: String, now: Date, limit: Int, lockDuration: TimeInterval) async throws -> Bool {
        let lockUntil = millis(now.addingTimeInterval(lockDuration))
        let limit = Int64(limit)
        // Every right-hand side reads the row as it was before this UPDATE (SQL semantics on both engines).
        // PostgreSQL re-checks the WHERE on the newest row version after waiting for a concurrent writer,
        // and SQLite runs writers one at a time, so a racing attempt sees the lock the previous one set.
        return try await self.provider.withDatabase { db in
            try await db.raw(
                """
                UPDATE users SET
                  login_failures = CASE WHEN login_failures + 1 >= \(bind: limit) THEN 0 ELSE login_failures + 1 END,
                  locked_until = CASE WHEN login_failures + 1 >= \(bind: limit) THEN \(bind: lockUntil) ELSE locked_until END
                WHERE id = \(bind: userID) AND (locked_until IS NULL OR locked_until <= \(bind: millis(now)))
                RETURNING id
                """
            ).first() != nil
        }
    }

    package func resetLoginFailures(userID: String) async throws {
        try await self.provider.withDatabase { db in
            try await db.raw(
                """
                UPDATE users SET login_failures = 0, locked_until = NULL
                WHERE id = \(bind: userID) AND (login_failures <> 0 OR locked_until IS NOT NULL)
                """
            ).run()
        }
    }

    package func insertAccessKey(_ key: AccessKey) async throws {
        defer { self.signingKeys.invalidate() }
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

    package func signingKey(_ accessKey: String) async throws -> SigningKey? {
        try await self.signingKeys.key(accessKey) { try await self.loadSigningKey(accessKey) }
    }

    private func loadSigningKey(_ accessKey: String) async throws -> SigningKey? {
        let row = try await self.provider.withDatabase { db in
            // Primary-key lookups only. LEFT JOINs so that a key whose user or project is gone is still found:
            // its failures are counted like any other key's, and it then authenticates nobody.
            try await db.raw(
                """
                SELECT k.access_key, k.secret_sealed, k.user_id, k.created_at, k.failures, k.locked_until,
                  \(unsafeRaw: Self.userColumns), \(unsafeRaw: Self.projectColumns)
                FROM access_keys k LEFT JOIN users u ON u.id = k.user_id LEFT JOIN projects p ON p.id = u.project_id
                WHERE k.access_key = \(bind: accessKey)
                """
            ).first()
        }
        guard let row else { return nil }
        let key = try self.accessKey(row: row)
        guard try !row.decodeNil(column: "u_id"), try !row.decodeNil(column: "p_id") else {
            return SigningKey(key: key, principal: nil)
        }
        let principal = Principal(user: try Self.user(row, prefix: "u_"), project: try Self.project(row, prefix: "p_"), accessKey: key.accessKey)
        return SigningKey(key: key, principal: principal)
    }

    package func recordAccessKeyFailure(_ accessKey: String, now: Date, limit: Int, lockDuration: TimeInterval) async throws -> AccessKey? {
        defer { self.signingKeys.invalidate() }
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
        defer { self.signingKeys.invalidate() }
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

    /// The columns of `users u` and `projects p` under `u_`/`p_` names, for the joined reads.
    private static let userColumns = [
        "id", "domain_id", "project_id", "name", "password_hash", "password_changed_at", "created_at",
    ].map { "u.\($0) AS u_\($0)" }.joined(separator: ", ")
    private static let projectColumns = ["id", "domain_id", "name", "created_at"].map { "p.\($0) AS p_\($0)" }.joined(separator: ", ")

    private static func project(_ row: any SQLRow) throws -> Project { try Self.project(row, prefix: "") }

    private static func project(_ row: any SQLRow, prefix: String) throws -> Project {
        Project(
            id: try row.string(prefix + "id"), domainID: try row.string(prefix + "domain_id"), name: try row.string(prefix + "name"),
            createdAt: try row.date(prefix + "created_at"))
    }

    private static func user(_ row: any SQLRow) throws -> User { try Self.user(row, prefix: "") }

    private static func user(_ row: any SQLRow, prefix: String) throws -> User {
        User(
            id: try row.string(prefix + "id"), domainID: try row.string(prefix + "domain_id"), projectID: try row.string(prefix + "project_id"),
            name: try row.string(prefix + "name"), passwordHash: try row.string(prefix + "password_hash"),
            passwordChangedAt: try row.date(prefix + "password_changed_at"), createdAt: try row.date(prefix + "created_at"))
    }

    private func accessKey(row: any SQLRow) throws -> AccessKey {
        AccessKey(
            accessKey: try row.string("access_key"), secretKey: try self.secrets.open(try row.string("secret_sealed")),
            userID: try row.string("user_id"), createdAt: try row.date("created_at"), failures: try row.int("failures"),
            lockedUntil: try row.optionalDate("locked_until"))
    }
}
