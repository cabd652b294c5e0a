import Logging
import PostgresKit
import PostgresNIO
import SQLKit

/// PostgreSQL through `PostgresClient`'s pool (AsyncKit pools are deprecated, style guide 1.5).
///
/// The client's `run()` must run for the pool to work; the provider owns that task and ends it in `close()`.
package final class PostgresProvider: DatabaseProvider {
    package let kind = DatabaseKind.postgres
    private let client: PostgresClient
    private let runTask: Task<Void, Never>
    private let logger: Logger

    private init(client: PostgresClient, runTask: Task<Void, Never>, logger: Logger) {
        self.client = client
        self.runTask = runTask
        self.logger = logger
    }

    /// Connects to `host:port/database`; verifies the connection once so a bad URL fails at start.
    package static func open(
        host: String, port: Int, username: String, password: String?, database: String, logger: Logger
    ) async throws -> PostgresProvider {
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: .disable)
        configuration.options.maximumConnections = 16
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let task = Task { await client.run() }
        // Let run() start before the first lease, or the pool logs a warning for every early request.
        try? await Task.sleep(for: .milliseconds(20))
        let provider = PostgresProvider(client: client, runTask: task, logger: logger)
        do {
            try await provider.withDatabase { db in try await db.raw("SELECT 1").run() }
        } catch {
            await provider.close()
            throw error
        }
        return provider
    }

    package func withDatabase<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        let logger = self.logger
        return try await self.client.withConnection { connection in
            try await body(connection.sql(logger: logger))
        }
    }

    package func withTransaction<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        let logger = self.logger
        return try await self.client.withConnection { connection in
            try await SQLTransaction.run(on: connection.sql(logger: logger), begin: "BEGIN", body)
        }
    }

    package func close() async {
        self.runTask.cancel()
        await self.runTask.value
    }
}
