import Foundation
import Logging
import NIOCore
import NIOPosix
import SQLKit
import ServiceLifecycle

/// SQLite behind a small pool of connections: WAL lets readers run in parallel with each other and with
/// the one writer; SQLite's own lock (with a busy timeout) orders writers, and `BEGIN IMMEDIATE` takes
/// the write lock up front so two transactions never deadlock upgrading a read lock.
///
/// Each connection has a thread of its own (a dedicated `NIOThreadPool` as large as the pool): a
/// connection waiting in SQLite's busy handler blocks its thread, and must never take the thread the
/// lock holder needs to finish, which a pool shared with fewer threads than connections would allow.
///
/// The file is created with mode 0600 before SQLite opens it (its `-wal`/`-shm` companions inherit the
/// mode). The admin CLI writes to the same file while a server runs. An in-memory database cannot be
/// shared between connections, so it gets a pool of one.
///
/// Connections open in `open`; `run()` keeps them until graceful shutdown or cancellation and then
/// closes them, the same service shape as the PostgreSQL provider.
package final class SQLiteProvider: DatabaseProvider {
    package let kind = DatabaseKind.sqlite
    /// Connections per file database: one per core is where parallel reads stop paying on this machine.
    package static let poolSize = 4
    private let pool: AsyncPool<SQLiteHandleDatabase>
    private let connections: [SQLiteHandle]
    private let threads: NIOThreadPool

    private init(connections: [SQLiteHandleDatabase], threads: NIOThreadPool) {
        self.connections = connections.map(\.handle)
        self.threads = threads
        self.pool = AsyncPool(connections)
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
        let size = path == nil ? 1 : Self.poolSize
        let threads = NIOThreadPool(numberOfThreads: size)
        threads.start()
        var connections: [SQLiteHandleDatabase] = []
        do {
            for index in 0..<size {
                let handle = try await threads.runIfActive { try SQLiteHandle.open(path: path) }
                let db = SQLiteHandleDatabase(
                    handle: handle, threads: threads, logger: logger, eventLoop: MultiThreadedEventLoopGroup.singleton.any())
                connections.append(db)
                if path != nil && index == 0 { try await db.raw("PRAGMA journal_mode = WAL").run() }
                try await db.raw("PRAGMA busy_timeout = 10000").run()
                try await db.raw("PRAGMA foreign_keys = ON").run()
            }
        } catch {
            for connection in connections { try? await threads.runIfActive { connection.handle.close() } }
            try? await threads.shutdownGracefully()
            throw error
        }
        return SQLiteProvider(connections: connections, threads: threads)
    }

    package func withDatabase<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await self.pool.withResource { connection in try await body(connection) }
    }

    package func withTransaction<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await self.pool.withResource { connection in
            try await SQLTransaction.run(on: connection, begin: "BEGIN IMMEDIATE", body)
        }
    }

    /// Holds the connections open until graceful shutdown or cancellation, then closes them.
    package func run() async {
        try? await gracefulShutdown()
        await self.close()
    }

    /// Waits for the queries in flight to finish (later ones fail with ``StorageError/closed``), then closes every
    /// connection and its threads. Closing a connection a query still runs on frees the SQLite handle under it.
    package func close() async {
        let drained = await self.pool.drain().map(\.handle)
        // On the connections' threads (a close may wait for SQLite's checkpoint); the future form, which
        // a cancelled task does not skip (style guide 1.5).
        try? await self.threads.runIfActive(eventLoop: MultiThreadedEventLoopGroup.singleton.any()) {
            for connection in drained { connection.close() }
        }.get()
        try? await self.threads.shutdownGracefully()
    }

    deinit {
        // `close()` is idempotent: a provider whose `run()` never ran still closes its files.
        for connection in self.connections where !connection.isClosed { connection.close() }
    }
}

/// Storage failures that are not a database error.
package enum StorageError: Error, CustomStringConvertible {
    case cannotOpen(String, String)
    case invalidDatabaseURL(String)
    case corrupt(String)
    /// The master key does not match the one the database was set up with; names where the key came from.
    case masterKeyMismatch(keySource: String)
    /// The database service has stopped (the server is shutting down): no connection is handed out any more.
    case closed

    package var description: String {
        switch self {
        case .cannotOpen(let path, let reason): "cannot open \(path): \(reason)"
        case .invalidDatabaseURL(let url): "invalid --database value \(url): expected sqlite:///path or postgres://user:pass@host:port/db"
        case .corrupt(let detail): "stored data is corrupt: \(detail)"
        case .closed: "the database is closed (the server is stopping)"
        case .masterKeyMismatch(let source):
            """
            the master key (\(source)) does not match the one this database was set up with: every node sharing the \
            database must use the same key. Copy the first node's <data-dir>/master.key, or set COFFER_MASTER_KEY to its \
            contents (base64 of 32 bytes), and start again.
            """
        }
    }
}
