import Foundation
import Logging
import NIOCore
import NIOPosix
import SQLKit
import SQLiteKit
import SQLiteNIO

/// SQLite behind one connection: every statement and transaction is serialised by a FIFO lock.
///
/// The file is created with mode 0600 before SQLite opens it (its `-wal`/`-shm` companions inherit the
/// mode). WAL journaling and a busy timeout let the admin CLI write while a server runs.
package final class SQLiteProvider: DatabaseProvider {
    package let kind = DatabaseKind.sqlite
    private let connection: SQLiteConnection
    private let mutex = AsyncMutex()
    private let logger: Logger

    private init(connection: SQLiteConnection, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    /// Opens (creating when missing) the database at `path`, or an in-memory database when `path` is nil.
    package static func open(path: String?, logger: Logger) async throws -> SQLiteProvider {
        if let path {
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
            let fd = Foundation.open(path, O_CREAT | O_RDWR, 0o600)
            guard fd >= 0 else { throw StorageError.cannotOpen(path, String(cString: strerror(errno))) }
            fchmod(fd, 0o600)
            Foundation.close(fd)
        }
        let connection = try await SQLiteConnection.open(storage: path.map { .file(path: $0) } ?? .memory, logger: logger).get()
        let provider = SQLiteProvider(connection: connection, logger: logger)
        let db = connection.sql()
        if path != nil { try await db.raw("PRAGMA journal_mode = WAL").run() }
        try await db.raw("PRAGMA busy_timeout = 10000").run()
        try await db.raw("PRAGMA foreign_keys = ON").run()
        return provider
    }

    package func withDatabase<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        let db = self.connection.sql()
        return try await self.mutex.withLock { try await body(db) }
    }

    package func withTransaction<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        let db = self.connection.sql()
        return try await self.mutex.withLock {
            try await SQLTransaction.run(on: db, begin: "BEGIN IMMEDIATE", body)
        }
    }

    package func close() async {
        // `close().get()` rather than the async `close()`, which throws in a cancelled task (style guide 1.5).
        try? await self.connection.close().get()
    }

    deinit {
        // sqlite-nio asserts that connections are closed; `close()` is idempotent.
        if !self.connection.isClosed { _ = self.connection.close() }
    }
}

/// Storage failures that are not a database error.
package enum StorageError: Error, CustomStringConvertible {
    case cannotOpen(String, String)
    case invalidDatabaseURL(String)
    case corrupt(String)

    package var description: String {
        switch self {
        case .cannotOpen(let path, let reason): "cannot open \(path): \(reason)"
        case .invalidDatabaseURL(let url): "invalid --database value \(url): expected sqlite:///path or postgres://user:pass@host:port/db"
        case .corrupt(let detail): "stored data is corrupt: \(detail)"
        }
    }
}
