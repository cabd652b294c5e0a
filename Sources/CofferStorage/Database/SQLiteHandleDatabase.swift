import Logging
import NIOCore
import NIOPosix
import SQLKit
import SQLiteKit
import SQLiteNIO

/// `SQLDatabase` over one `SQLiteHandle`: sql-kit serializes in SQLite's dialect, the statement runs on the
/// provider's threads (never on the cooperative pool: a writer may wait in SQLite's busy handler), and binds
/// are encoded by sqlite-kit's `SQLiteDataEncoder`, so values are stored exactly as sqlite-kit stored them.
struct SQLiteHandleDatabase: SQLDatabase {
    let handle: SQLiteHandle
    let threads: NIOThreadPool
    let logger: Logger
    let eventLoop: any EventLoop

    var dialect: any SQLDialect { SQLiteDialect() }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) -> EventLoopFuture<Void> {
        let promise = self.eventLoop.makePromise(of: Void.self)
        promise.completeWithTask { try await self.execute(sql: query, onRow) }
        return promise.futureResult
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
        let (sql, binds) = self.serialize(query)
        if let level = self.queryLogLevel {
            self.logger.log(level: level, "Executing query", metadata: ["sql": .string(sql)])
        }
        let data = try binds.map(Self.data)
        let handle = self.handle
        try await self.threads.runIfActive {
            try handle.query(sql, data) { onRow($0) }
        }
    }

    private static let encoder = SQLiteDataEncoder()

    /// A bind as SQLite stores it: sqlite-kit's encoder's result, with the common types (a list binds two dozen
    /// strings and integers) converted directly rather than through its protocol cast.
    static func data(_ bind: any Encodable & Sendable) throws -> SQLiteData {
        switch bind {
        case let text as String: .text(text)
        case let integer as Int64: .integer(Int(integer))
        case let integer as Int: .integer(integer)
        default: try Self.encoder.encode(bind)
        }
    }
}
