import SQLKit
import ServiceLifecycle

/// The one way storage code reaches a database: SQLite and PostgreSQL both hand out `any SQLDatabase`,
/// so every store has a single SQL code path.
///
/// A provider is a `Service`: its connections are usable while `run()` runs, and `run()` closes them when
/// it ends (graceful shutdown or cancellation). The server runs it first among its services, so it
/// starts first and stops last; the admin CLI and tests run it in a scope (`withRunning`).
package protocol DatabaseProvider: Service {
    /// Which engine is behind the provider, for the few statements whose syntax differs.
    var kind: DatabaseKind { get }
    /// Runs `body` with a database handle, outside any transaction.
    func withDatabase<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R
    /// Runs `body` in one transaction: committed when it returns, rolled back when it throws.
    func withTransaction<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R
}

/// The supported database engines.
package enum DatabaseKind: String, Sendable {
    case sqlite, postgres
}
