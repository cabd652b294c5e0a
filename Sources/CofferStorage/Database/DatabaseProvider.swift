import SQLKit

/// The one way storage code reaches a database: SQLite and PostgreSQL both hand out `any SQLDatabase`,
/// so every store has a single SQL code path.
package protocol DatabaseProvider: Sendable {
    /// Which engine is behind the provider, for the few statements whose syntax differs.
    var kind: DatabaseKind { get }
    /// Runs `body` with a database handle, outside any transaction.
    func withDatabase<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R
    /// Runs `body` in one transaction: committed when it returns, rolled back when it throws.
    func withTransaction<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R
    /// Closes connections. Safe to call twice.
    func close() async
}

/// The supported database engines.
package enum DatabaseKind: String, Sendable {
    case sqlite, postgres
}
