import SQLKit

/// BEGIN … COMMIT, or ROLLBACK when the body throws: the one transaction shape both providers use.
enum SQLTransaction {
    /// - Parameter begin: `BEGIN` (PostgreSQL) or `BEGIN IMMEDIATE` (SQLite: take the write lock up front, so
    ///   two processes never deadlock upgrading a read lock).
    static func run<R: Sendable>(on db: any SQLDatabase, begin: SQLQueryString, _ body: (any SQLDatabase) async throws -> R) async throws -> R {
        try await db.raw(begin).run()
        do {
            let result = try await body(db)
            try await db.raw("COMMIT").run()
            return result
        } catch {
            // From a task of its own, which the caller's cancellation does not reach: in a cancelled task every
            // query fails at once, ROLLBACK included, and the pooled connection would stay inside the transaction
            // for its next user ("cannot start a transaction within a transaction").
            await Task { try? await db.raw("ROLLBACK").run() }.value
            throw error
        }
    }
}
