@testable import CofferStorage
import CofferTestSupport
import Logging
import SQLKit
import Testing

@Suite("SQL transactions", .timeLimit(.minutes(1)))
struct SQLTransactionTests {
    /// A task cancelled inside a transaction: its queries fail at once, and a ROLLBACK sent from that task would
    /// too, leaving the pooled connection inside the transaction for its next user ("cannot start a transaction
    /// within a transaction"). The in-memory store has a pool of one, so the next user gets that connection.
    @Test("a transaction cancelled mid-way is rolled back and leaves its pooled connection usable")
    func cancelledTransactionRollsBack() async throws {
        let provider = try await SQLiteProvider.open(path: nil, logger: Logger(label: "coffer.test.sql"))
        try await provider.withDatabase { try await $0.raw("CREATE TABLE t (n INTEGER)").run() }
        let inside = AsyncStream.makeStream(of: Void.self)
        let task = Task {
            try await provider.withTransaction { db in
                try await db.raw("INSERT INTO t VALUES (1)").run()
                inside.continuation.yield()
                try await Task.sleep(for: .seconds(30))
            }
        }
        var signals = inside.stream.makeAsyncIterator()
        _ = await signals.next()
        task.cancel()
        _ = try? await task.value
        let count = try await provider.withTransaction { db in
            try await db.raw("INSERT INTO t VALUES (2)").run()
            return try await db.raw("SELECT count(*) AS n FROM t").first()?.decode(column: "n", as: Int.self)
        }
        #expect(count == 1, "the cancelled insert was rolled back, the new one committed")
    }
}
