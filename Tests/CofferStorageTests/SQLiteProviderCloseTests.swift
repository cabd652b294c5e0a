@testable import CofferStorage
import Foundation
import Synchronization
import Logging
import SQLKit
import Testing

@Suite("SQLite provider shutdown", .timeLimit(.minutes(1)))
struct SQLiteProviderCloseTests {
    /// The database service stops while jobs and requests still query (a server shutting down). Closing a connection
    /// a query runs on freed the SQLite handle under it: the test process crashed in `sqlite3_prepare_v3`. Now the
    /// queries in flight finish, later ones fail with `StorageError.closed`, and nothing else happens.
    @Test("closing waits for the queries in flight; later queries fail with .closed")
    func closeDrainsQueriesInFlight() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-sqlite-close-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let provider = try await SQLiteProvider.open(path: directory.appendingPathComponent("coffer.db").path, logger: Logger(label: "coffer.test.sql"))
        try await provider.withDatabase { try await $0.raw("CREATE TABLE t (n INTEGER)").run() }
        // A query that takes a while: a recursive count, summed.
        let slow: SQLQueryString = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000) SELECT sum(x) AS s FROM c"
        let started = ManagedAtomicCounter()
        let outcomes = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<24 {
                group.addTask {
                    do {
                        let sum = try await provider.withDatabase { db in
                            started.increment()
                            return try await db.raw(slow).first()?.decode(column: "s", as: Int.self)
                        }
                        return sum == 20_000_100_000 ? "answered" : "wrong \(String(describing: sum))"
                    } catch StorageError.closed {
                        return "closed"
                    } catch {
                        return "error \(error)"
                    }
                }
            }
            while started.value < 4 { try await Task.sleep(for: .milliseconds(1)) }
            await provider.close()
            var outcomes: [String: Int] = [:]
            for try await outcome in group { outcomes[outcome, default: 0] += 1 }
            return outcomes
        }
        #expect(Set(outcomes.keys).isSubset(of: ["answered", "closed"]), "\(outcomes)")
        #expect(outcomes["answered", default: 0] >= 4, "the queries already running finished: \(outcomes)")
        #expect(outcomes["closed", default: 0] >= 1, "the queries waiting for a connection were refused: \(outcomes)")
        await #expect(throws: StorageError.self) { try await provider.withDatabase { try await $0.raw("SELECT 1").run() } }
    }
}

/// A counter the test's tasks bump from any thread.
private final class ManagedAtomicCounter: Sendable {
    private let count = Mutex(0)
    func increment() { self.count.withLock { $0 += 1 } }
    var value: Int { self.count.withLock { $0 } }
}
