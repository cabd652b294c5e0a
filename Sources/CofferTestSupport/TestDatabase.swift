import CofferStorage
import Foundation
import Logging
import SQLKit

/// The database engines the store suites run against.
///
/// SQLite always; PostgreSQL when `COFFER_TEST_POSTGRES_URL` names a server (the test script starts
/// one on a free loopback port). Each PostgreSQL test gets a database of its own, dropped afterwards.
package enum TestDatabase: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite, postgres

    package var description: String { self.rawValue }

    /// Quiet: tests report through their expectations, not the store's info lines.
    package static var logger: Logger {
        var logger = Logger(label: "coffer.test.db")
        logger.logLevel = .warning
        return logger
    }

    /// The superuser URL of the test PostgreSQL server, if one is configured.
    package static var postgresURL: String? { ProcessInfo.processInfo.environment["COFFER_TEST_POSTGRES_URL"] }

    /// `[.sqlite]`, plus `.postgres` when a server is configured.
    package static var available: [TestDatabase] { Self.postgresURL == nil ? [.sqlite] : [.sqlite, .postgres] }

    /// Opens a fresh, migrated database URL for one test, runs `body` with it, then drops it.
    /// - Parameter body: receives a `--database` URL (a file-backed SQLite database, or a new PostgreSQL database).
    package func withFreshURL<R: Sendable>(_ body: (String) async throws -> R) async throws -> R {
        let logger = TestDatabase.logger
        switch self {
        case .sqlite:
            let directory = try TemporaryDirectory(prefix: "coffer-sqlite")
            defer { directory.remove() }
            return try await body("sqlite://" + directory.path + "/coffer.sqlite")
        case .postgres:
            guard let admin = Self.postgresURL, var components = URLComponents(string: admin) else {
                throw TestDatabaseError.postgresNotConfigured
            }
            let name = "coffer_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
            let server = try await DatabaseURL.open(admin, logger: logger)
            return try await withRunning(server) {
                try await server.withDatabase { db in try await db.raw("CREATE DATABASE \(ident: name)").run() }
                components.path = "/" + name
                do {
                    let result = try await body(components.string!)
                    try await server.withDatabase { db in try await db.raw("DROP DATABASE IF EXISTS \(ident: name) WITH (FORCE)").run() }
                    return result
                } catch {
                    try? await server.withDatabase { db in try await db.raw("DROP DATABASE IF EXISTS \(ident: name) WITH (FORCE)").run() }
                    throw error
                }
            }
        }
    }

    /// Opens a fresh migrated provider, runs it for the duration of `body`, then stops it.
    package func withProvider<R: Sendable>(_ body: (any DatabaseProvider) async throws -> R) async throws -> R {
        try await self.withFreshURL { url in
            let logger = TestDatabase.logger
            let provider = try await DatabaseURL.open(url, logger: logger)
            return try await withRunning(provider) {
                try await Migrations.apply(on: provider, logger: logger)
                return try await body(provider)
            }
        }
    }
}

package enum TestDatabaseError: Error {
    case postgresNotConfigured
}
