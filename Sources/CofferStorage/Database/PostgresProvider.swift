import Logging
import PostgresKit
import PostgresNIO
import SQLKit
import ServiceLifecycle

/// PostgreSQL through `PostgresClient`'s pool (AsyncKit pools are deprecated, style guide 1.5).
///
/// The client's pool works only while its `run()` runs: the provider's `run()` is that, so the provider
/// is a service like the client itself (the anchor: `app.addServices(client)`). Connections are leased
/// only after `run()` has started, so no lease ever meets a pool that is not running.
package final class PostgresProvider: DatabaseProvider {
    package let kind = DatabaseKind.postgres
    private let client: PostgresClient
    /// For connections outside the pool: a `LISTEN` must stay on one connection, which a pool does not promise.
    private let connectionConfiguration: PostgresConnection.Configuration
    private let logger: Logger
    private let started = StartSignal()

    /// A provider for `host:port/database`; nothing connects until `run()` runs and a statement needs a connection.
    package init(host: String, port: Int, username: String, password: String?, database: String, logger: Logger) {
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: .disable)
        configuration.options.maximumConnections = 16
        self.connectionConfiguration = PostgresConnection.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: .disable)
        self.client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.logger = logger
    }

    /// Runs the connection pool until graceful shutdown or cancellation, then closes its connections.
    package func run() async {
        self.started.fire()
        await self.client.run()
    }

    package func withDatabase<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        let logger = self.logger
        try await self.started.wait()
        return try await self.client.withConnection { connection in
            try await body(connection.sql(logger: logger))
        }
    }

    /// Opens a connection of its own (not from the pool), `LISTEN`s on `channel`, calls `listening` once it
    /// does, and hands every notification's payload to `notified` until the connection fails (throws) or the task
    /// is cancelled (returns). The connection is closed either way.
    package func listen(
        on channel: String, listening: @Sendable () -> Void, notified: @Sendable (String) -> Void
    ) async throws {
        try await self.started.wait()
        let connection = try await PostgresConnection.connect(
            configuration: self.connectionConfiguration, id: Int.random(in: 1...Int.max), logger: self.logger)
        do {
            try await connection.listen(on: channel) { notifications in
                listening()
                for try await notification in notifications { notified(notification.payload) }
            }
        } catch {
            try? await connection.close()
            if Task.isCancelled { return }
            throw error
        }
        try? await connection.close()
    }

    package func withTransaction<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        let logger = self.logger
        try await self.started.wait()
        return try await self.client.withConnection { connection in
            try await SQLTransaction.run(on: connection.sql(logger: logger), begin: "BEGIN", body)
        }
    }
}
