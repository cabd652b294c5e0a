import CSQLite
import Foundation
import NIOCore
import SQLiteNIO

/// One SQLite connection with a cache of prepared statements, used only from its own thread.
///
/// Why not sqlite-nio's `SQLiteConnection`: it prepares every statement again on each call and rebuilds the
/// column names with each result, which was the largest single cost of a list request (`sqlite3_prepare` about
/// 11 % of the server's CPU in `bench/list-backups`). The SQL Coffer sends is a small fixed set of texts (binds
/// for values, literals only for LIMIT/OFFSET), so statements are kept per text and only reset between uses;
/// a schema change prepares a statement again.
///
/// It calls the system `libsqlite3` (the `CSQLite` target), the only copy of SQLite that opens Coffer's files:
/// sqlite-nio's bundled copy is linked too (sqlite-kit's dialect and value coders come with it) but opens nothing,
/// and must not, as two copies of SQLite on one file would not see each other's POSIX locks. sqlite-nio's C module
/// is not a product, so it could not be declared as a dependency.
///
/// Not thread-safe on purpose: `SQLiteProvider` runs everything for a connection on that connection's thread.
final class SQLiteHandle: @unchecked Sendable {
    /// A cached statement and its result columns (names read once, as a name → index table).
    private final class Statement {
        let raw: OpaquePointer
        let columns: SQLiteColumns

        init(raw: OpaquePointer) {
            self.raw = raw
            var names: [String] = []
            for column in 0..<sqlite3_column_count(raw) {
                names.append(sqlite3_column_name(raw, column).map { String(cString: $0) } ?? "")
            }
            self.columns = SQLiteColumns(names: names)
        }
    }

    /// Statements kept per connection; past this the cache starts over (texts with literal LIMIT/OFFSET vary).
    static let statementCapacity = 128

    private var raw: OpaquePointer?
    private var statements: [String: Statement] = [:]

    private init(raw: OpaquePointer) {
        self.raw = raw
    }

    /// `sqlite3_initialize` once per process before the first open (sqlite-nio does the same under its lock).
    private static let initialized: Bool = sqlite3_initialize() == CSQLITE_OK

    /// Opens `path` (created when missing), or a private in-memory database when `path` is nil.
    static func open(path: String?) throws -> SQLiteHandle {
        _ = Self.initialized
        var raw: OpaquePointer?
        let flags = CSQLITE_OPEN_CREATE | CSQLITE_OPEN_READWRITE | CSQLITE_OPEN_FULLMUTEX | CSQLITE_OPEN_URI | CSQLITE_OPEN_EXRESCODE
        let status = sqlite3_open_v2(path ?? ":memory:", &raw, flags, nil)
        guard status == CSQLITE_OK, let raw else {
            let message = raw.flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) } ?? "code \(status)"
            if let raw { sqlite3_close_v2(raw) }
            throw SQLiteStatementError(code: status, message: "cannot open \(path ?? ":memory:"): \(message)")
        }
        return SQLiteHandle(raw: raw)
    }

    var isClosed: Bool { self.raw == nil }

    /// Runs `sql` with `binds`, handing each result row to `onRow`. The statement is reset (its read
    /// transaction ended) before this returns, whatever happened.
    func query(_ sql: String, _ binds: [SQLiteData], _ onRow: (SQLiteHandleRow) throws -> Void) throws {
        do {
            try self.run(sql, binds, onRow)
        } catch let error as SQLiteStatementError where error.code & 0xff == CSQLITE_SCHEMA {
            // The schema changed since the statement was prepared (a migration, here or in another process):
            // SQLite refuses it before its first row, so preparing it again and running it once more is safe.
            self.evict(sql)
            try self.run(sql, binds, onRow)
        }
    }

    private func run(_ sql: String, _ binds: [SQLiteData], _ onRow: (SQLiteHandleRow) throws -> Void) throws {
        let statement = try self.statement(sql)
        defer {
            sqlite3_reset(statement.raw)
            sqlite3_clear_bindings(statement.raw)
        }
        for (index, bind) in binds.enumerated() {
            let status = Self.bind(bind, at: Int32(index + 1), in: statement.raw)
            guard status == CSQLITE_OK else { throw self.error(status) }
        }
        let columns = statement.columns
        while true {
            let status = sqlite3_step(statement.raw)
            if status == CSQLITE_DONE { return }
            // A statement from the legacy `sqlite3_prepare` reports its failure's code through `sqlite3_reset`.
            guard status == CSQLITE_ROW else { throw self.error(sqlite3_reset(statement.raw)) }
            var values: [SQLiteData] = []
            values.reserveCapacity(columns.names.count)
            for column in 0..<Int32(columns.names.count) { values.append(Self.value(statement.raw, column)) }
            try onRow(SQLiteHandleRow(columns: columns, values: values))
        }
    }

    /// Finalizes every cached statement and closes the connection; idempotent.
    func close() {
        guard let raw = self.raw else { return }
        self.finalizeStatements()
        sqlite3_close_v2(raw)
        self.raw = nil
    }

    deinit { self.close() }

    // MARK: - Statements

    private func statement(_ sql: String) throws -> Statement {
        if let cached = self.statements[sql] { return cached }
        guard let raw = self.raw else { throw SQLiteStatementError(code: CSQLITE_MISUSE, message: "the connection is closed") }
        var prepared: OpaquePointer?
        // The legacy `sqlite3_prepare`, not `_v2`/`_v3`: those mark a statement to be compiled again whenever a
        // value bound in a range constraint changes (sqlite-nio's SQLite has STAT4), which re-prepared the list
        // query on every request and cost as much as not caching it. Here the plan is made once per text,
        // without the values (the indexes decide it; bench/list-backups/explain.py shows the plans), and a schema
        // change comes back as SQLITE_SCHEMA, which `query` answers by preparing again.
        let status = sqlite3_prepare(raw, sql, -1, &prepared, nil)
        guard status == CSQLITE_OK else { throw self.error(status) }
        // An empty text (only a comment or whitespace) prepares to no statement: nothing to run.
        guard let prepared else { throw SQLiteStatementError(code: CSQLITE_MISUSE, message: "no SQL statement in the text") }
        let statement = Statement(raw: prepared)
        if self.statements.count >= Self.statementCapacity { self.finalizeStatements() }
        self.statements[sql] = statement
        return statement
    }

    private func evict(_ sql: String) {
        if let statement = self.statements.removeValue(forKey: sql) { sqlite3_finalize(statement.raw) }
    }

    private func finalizeStatements() {
        for statement in self.statements.values { sqlite3_finalize(statement.raw) }
        self.statements.removeAll()
    }

    private static func bind(_ data: SQLiteData, at index: Int32, in statement: OpaquePointer) -> Int32 {
        switch data {
        case .integer(let value): sqlite3_bind_int64(statement, index, Int64(value))
        case .float(let value): sqlite3_bind_double(statement, index, value)
        case .text(let value):
            sqlite3_bind_text64(statement, index, value, UInt64(value.utf8.count), Self.transient, UInt8(CSQLITE_UTF8))
        case .blob(let value):
            value.withUnsafeReadableBytes {
                sqlite3_bind_blob64(statement, index, $0.baseAddress, UInt64($0.count), Self.transient)
            }
        case .null: sqlite3_bind_null(statement, index)
        }
    }

    /// `SQLITE_TRANSIENT`: SQLite copies the bound bytes, which live only for the call.
    private static let transient = unsafeBitCast(-1, to: (@convention(c) (UnsafeMutableRawPointer?) -> Void).self)

    private static func value(_ statement: OpaquePointer, _ column: Int32) -> SQLiteData {
        switch sqlite3_column_type(statement, column) {
        case CSQLITE_INTEGER: return .integer(SQLiteInt64(sqlite3_column_int64(statement, column)))
        case CSQLITE_FLOAT: return .float(sqlite3_column_double(statement, column))
        case CSQLITE_TEXT:
            guard let text = sqlite3_column_text(statement, column) else { return .null }
            let count = Int(sqlite3_column_bytes(statement, column))
            return .text(String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self))
        case CSQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(statement, column))
            var buffer = ByteBufferAllocator().buffer(capacity: count)
            if let bytes = sqlite3_column_blob(statement, column) {
                buffer.writeBytes(UnsafeRawBufferPointer(start: bytes, count: count))
            }
            return .blob(buffer)
        default: return .null
        }
    }

    private func error(_ status: Int32) -> SQLiteStatementError {
        let message = self.raw.flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) } ?? "code \(status)"
        return SQLiteStatementError(code: status, message: message)
    }
}

/// A result's column names, shared by every row of a statement, with the first index of each name (as
/// sqlite-nio's rows resolve a duplicated name).
struct SQLiteColumns: Sendable {
    let names: [String]
    let indexes: [String: Int]

    init(names: [String]) {
        self.names = names
        self.indexes = Dictionary(names.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
    }
}

/// A failed SQLite call: its result code and `sqlite3_errmsg`.
package struct SQLiteStatementError: Error, CustomStringConvertible {
    package let code: Int32
    package let message: String

    package var description: String { "SQLite error \(self.code): \(self.message)" }
}
