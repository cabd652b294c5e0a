import Foundation
import Logging

/// Parses `--database` and opens the matching provider (not yet running: see `DatabaseProvider`).
package enum DatabaseURL {
    /// Opens `sqlite:///absolute/path`, `sqlite://relative/path`, `sqlite::memory:` or
    /// `postgres://user:pass@host:port/db` (also `postgresql://`).
    package static func open(_ url: String, logger: Logger) async throws -> any DatabaseProvider {
        if url == "sqlite::memory:" { return try await SQLiteProvider.open(path: nil, logger: logger) }
        if url.hasPrefix("sqlite://") {
            let path = String(url.dropFirst("sqlite://".count))
            guard !path.isEmpty else { throw StorageError.invalidDatabaseURL(url) }
            return try await SQLiteProvider.open(path: path, logger: logger)
        }
        guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://"), let components = URLComponents(string: url),
            let host = components.host, let user = components.user
        else { throw StorageError.invalidDatabaseURL(url) }
        let database = String(components.path.drop(while: { $0 == "/" }))
        return PostgresProvider(
            host: host, port: components.port ?? 5432, username: user.removingPercentEncoding ?? user,
            password: components.password?.removingPercentEncoding, database: database.isEmpty ? user : database, logger: logger)
    }
}
