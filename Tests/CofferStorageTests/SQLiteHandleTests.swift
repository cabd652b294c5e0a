import CofferCore
import CofferTestSupport
import Foundation
import SQLKit
import SQLiteKit
import SQLiteNIO
import Testing

@testable import CofferStorage

/// The SQLite connections keep prepared statements between uses: a reused statement must see new schema and
/// new rows, leave no read transaction open (after an error too), and rows must decode as sqlite-kit's did.
@Suite("SQLite connections with cached statements", .timeLimit(.minutes(1)))
struct SQLiteHandleTests {
    @Test("A cached SELECT * sees columns added after it was first prepared, and rows written since")
    func schemaChange() async throws {
        try await TestDatabase.sqlite.withProvider { provider in
            try await provider.withDatabase { db in
                try await db.raw("CREATE TABLE t (a INTEGER NOT NULL)").run()
                try await db.raw("INSERT INTO t (a) VALUES (1)").run()
                let before = try await db.raw("SELECT * FROM t").all()
                #expect(before.map(\.allColumns) == [["a"]])
                try await db.raw("ALTER TABLE t ADD COLUMN b TEXT").run()
                try await db.raw("INSERT INTO t (a, b) VALUES (2, 'two')").run()
                let after = try await db.raw("SELECT * FROM t ORDER BY a").all()
                #expect(after.map(\.allColumns) == [["a", "b"], ["a", "b"]])
                #expect(try after.map { try $0.decode(column: "b", as: String?.self) } == [nil, "two"])
            }
        }
    }

    @Test("Statements that read, fail mid-way or break a constraint leave no read transaction open")
    func resetAfterUse() async throws {
        let directory = try TemporaryDirectory(prefix: "coffer-sqlite-handle")
        defer { directory.remove() }
        let provider = try await SQLiteProvider.open(path: directory.path + "/db.sqlite", logger: TestDatabase.logger)
        try await withRunning(provider) {
            try await provider.withDatabase { db in
                try await db.raw("CREATE TABLE t (a INTEGER PRIMARY KEY)").run()
                for a in 1...5 { try await db.raw("INSERT INTO t (a) VALUES (\(bind: Int64(a)))").run() }
            }
            // On every pooled connection (all busy at once, so each takes one): a full read, a read that fails at
            // its third row (after two rows came back), and an insert refused by the primary key.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<SQLiteProvider.poolSize {
                    group.addTask {
                        try await provider.withDatabase { db in
                            #expect(try await db.raw("SELECT a FROM t ORDER BY a").all().count == 5)
                            await #expect(throws: (any Error).self) {
                                try await db.raw("SELECT a, CASE WHEN a = 3 THEN json('not json') ELSE 1 END AS j FROM t ORDER BY a").run()
                            }
                            await #expect(throws: (any Error).self) { try await db.raw("INSERT INTO t (a) VALUES (\(bind: Int64(1)))").run() }
                            try await Task.sleep(for: .milliseconds(50))
                        }
                    }
                }
                try await group.waitForAll()
            }
            // A write after those reads, then a checkpoint that truncates the WAL: it completes (busy = 0) only when
            // no connection still reads an older snapshot.
            let row = try await provider.withDatabase { db in
                try await db.raw("INSERT INTO t (a) VALUES (6)").run()
                return try await db.raw("PRAGMA wal_checkpoint(TRUNCATE)").first()
            }
            #expect(try row?.decode(column: "busy", as: Int64.self) == 0)
        }
    }

    @Test("Rows decode as sqlite-kit decoded them: text, integers, doubles, booleans, optionals, JSON, missing columns")
    func decoding() async throws {
        try await TestDatabase.sqlite.withProvider { provider in
            try await provider.withDatabase { db in
                let row = try #require(
                    try await db.raw(
                        """
                        SELECT 'x' AS s, 42 AS i, 2.5 AS d, 1 AS flag, NULL AS n, '7' AS text_number, 3 AS int_as_double,
                          '["a","b"]' AS list, 1 AS dup, 2 AS dup
                        """
                    ).first())
                let decoder = SQLiteDataDecoder()
                #expect(try row.decode(column: "s", as: String.self) == "x")
                #expect(try row.decode(column: "s", as: String?.self) == "x")
                #expect(try row.decode(column: "i", as: Int64.self) == 42)
                #expect(try row.decode(column: "i", as: Int.self) == 42)
                #expect(try row.decode(column: "i", as: Int64?.self) == 42)
                #expect(try row.decode(column: "d", as: Double.self) == 2.5)
                #expect(try row.decode(column: "flag", as: Bool.self) == (try decoder.decode(Bool.self, from: .integer(1))))
                #expect(try row.decode(column: "n", as: String?.self) == nil)
                #expect(try row.decode(column: "n", as: Int64?.self) == nil)
                #expect(try row.decodeNil(column: "n") && !(try row.decodeNil(column: "i")))
                // sqlite-kit refuses text where an integer is asked for; so do these rows.
                #expect(throws: (any Error).self) { try decoder.decode(Int64.self, from: .text("7")) }
                #expect(throws: (any Error).self) { try row.decode(column: "text_number", as: Int64.self) }
                #expect(try row.decode(column: "text_number", as: String.self) == "7")
                #expect(try row.decode(column: "int_as_double", as: Double.self) == 3)
                #expect(try row.decode(column: "list", as: [String].self) == ["a", "b"])
                #expect(try row.decode(column: "dup", as: Int64.self) == 1)  // the first of a repeated name
                #expect(throws: (any Error).self) { try row.decode(column: "n", as: String.self) }
                #expect(throws: (any Error).self) { try row.decode(column: "absent", as: String.self) }
                #expect(!row.contains(column: "absent") && row.contains(column: "s"))
            }
        }
    }

    @Test("More distinct statements than the cache holds still run, each with its own binds")
    func capacity() async throws {
        try await TestDatabase.sqlite.withProvider { provider in
            try await provider.withDatabase { db in
                for n in 0..<(SQLiteHandle.statementCapacity * 2 + 3) {
                    let row = try #require(try await db.raw("SELECT \(literal: Int64(n)) + \(bind: Int64(n)) AS v").first())
                    #expect(try row.decode(column: "v", as: Int64.self) == Int64(2 * n))
                }
            }
        }
    }
}
