import CofferMySQL
import Logging

/// Commits causally ordered pairs until cancelled: id k on its first node, then — only after that commit
/// returned — the same id on the other node, alternating the direction (k even: node 0 first). A copy of the two
/// nodes is a *broken cut* when some pair's second row is in it and its first row is not. The proof of the
/// consistent cut, used by the dumper's tests and by the DDM recovery's (restored to a backup's cut).
package actor PairWriter {
    let first: MySQLConnection
    let second: MySQLConnection
    let databases: [String]
    var written = 0

    /// `databases[i]` on `nodes[i]` must hold `events (id BIGINT PRIMARY KEY)`.
    package init(nodes: [MariaDBServer], databases: [String]) async throws {
        self.first = try await MySQLConnection.connect(to: nodes[0].endpoint, timeout: .seconds(30), logger: Self.logger)
        self.second = try await MySQLConnection.connect(to: nodes[1].endpoint, timeout: .seconds(30), logger: Self.logger)
        self.databases = databases
    }

    /// Pairs committed so far (while ``run()`` goes on).
    package var progress: Int { self.written }

    /// Writes until the task is cancelled; returns how many pairs were written whole.
    package func run() async -> Int {
        var k = 10
        while !Task.isCancelled {
            k += 1
            let (a, b) = k % 2 == 0 ? (self.first, self.second) : (self.second, self.first)
            let (da, db) = k % 2 == 0 ? (self.databases[0], self.databases[1]) : (self.databases[1], self.databases[0])
            do {
                try await a.query("INSERT INTO `\(da)`.events VALUES (\(k))")
                try await b.query("INSERT INTO `\(db)`.events VALUES (\(k))")
                self.written += 1
            } catch {
                break
            }
        }
        await self.first.close()
        await self.second.close()
        return self.written
    }

    /// Counts, over the ids found on node 0 and node 1, the pairs whose second write is there without the first
    /// (`broken`) and the whole pairs.
    package static func check(_ sets: [Set<Int>]) -> (broken: Int, pairs: Int) {
        var broken = 0
        var pairs = 0
        for k in sets[0].union(sets[1]) {
            let (first, second) = k % 2 == 0 ? (sets[0], sets[1]) : (sets[1], sets[0])
            if second.contains(k) && !first.contains(k) { broken += 1 }
            if second.contains(k) && first.contains(k) { pairs += 1 }
        }
        return (broken, pairs)
    }

    /// The integer ids of `database.table` on `server` (empty when the database does not exist).
    package static func ids(on server: MariaDBServer, _ database: String, table: String = "events") async throws -> Set<Int> {
        let exists = try await server.execute("SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '\(database)'")
        guard exists[0].value("n") == "1" else { return [] }
        let rows = try await server.execute("SELECT id FROM `\(database)`.`\(table)`")
        return Set(rows[0].rows.compactMap { $0[0].flatMap { Int($0) } })
    }

    private static let logger: Logger = {
        var logger = Logger(label: "coffer.test.pairs")
        logger.logLevel = .critical
        return logger
    }()
}
