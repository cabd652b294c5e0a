import CofferMySQL
import CofferTestSupport
import Testing

@Suite("MySQL client protocol against a real mariadbd", .serialized, .timeLimit(.minutes(3)))
struct MySQLConnectionTests {
    @Test func handshakeLoginQueryAndErrors() async throws {
        try await MariaDBServer.withServers(1) { servers in
            let server = servers[0]
            // Greeting only: engine and version without an account.
            let info = try await MySQLConnection.greeting(of: server.endpoint(user: "", password: ""), logger: quietLogger)
            #expect(info.engineName == "mariadb")
            #expect(info.engineVersion.hasPrefix("10."))
            #expect(!info.engineVersion.contains("-"))

            try await MySQLConnection.withConnection(to: server.endpoint, logger: quietLogger) { connection in
                let result = try await connection.query("SELECT 1 AS one, NULL AS nothing, 'héllo' AS text")
                #expect(result.columns == ["one", "nothing", "text"])
                #expect(result.rows == [["1", nil, "héllo"]])
                let created = try await connection.query("CREATE DATABASE client_test")
                #expect(created.rows.isEmpty)
                // A statement error is a value-level failure: the connection stays usable.
                await #expect(throws: MySQLError.self) { try await connection.query("SELECT * FROM no_such_table") }
                let again = try await connection.query("SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'client_test'")
                #expect(again.value("n") == "1")
            }

            // Wrong password → authenticationFailed, never a generic failure.
            let wrongPassword = try await #require(throws: MySQLError.self, "login with a wrong password succeeded") {
                _ = try await MySQLConnection.connect(to: server.endpoint(user: MariaDBServer.adminUser, password: "wrong"), logger: quietLogger)
            }
            if case .authenticationFailed = wrongPassword {} else { Issue.record("unexpected \(wrongPassword)") }
            // An empty password for a user that has one.
            await #expect(throws: MySQLError.self) {
                _ = try await MySQLConnection.connect(to: server.endpoint(user: MariaDBServer.adminUser, password: ""), logger: quietLogger)
            }
        }
    }

    @Test func unreachableAddress() async throws {
        let port = try FreePort.next()
        let error = try await #require(throws: MySQLError.self, "connected to a closed port") {
            _ = try await MySQLConnection.connect(
                to: MySQLEndpoint(host: "127.0.0.1", port: port, user: "x", password: "y"), timeout: .seconds(2), logger: quietLogger)
        }
        if case .unreachable = error {} else { Issue.record("unexpected \(error)") }
    }

    /// The binlog-less snapshot proof: a consistent-snapshot transaction shows up as a read view in
    /// SHOW ENGINE INNODB STATUS under its connection's thread id; no transaction, no read view.
    @Test func readViewDetection() async throws {
        try await MariaDBServer.withServers(1, binlog: false) { servers in
            let server = servers[0]
            try await server.execute("CREATE USER 'reader'@'%' IDENTIFIED BY 'Reader-pw1'", "GRANT SELECT ON *.* TO 'reader'@'%'")
            let coordinator = try await MySQLConnection.connect(to: server.endpoint, logger: quietLogger)
            let reader = try await MySQLConnection.connect(to: server.endpoint(user: "reader", password: "Reader-pw1"), logger: quietLogger)
            let before = try await ConsistentDumper.withTimeout(.milliseconds(300)) {
                await ConsistentDumper.waitForReadView(of: "reader", on: coordinator)
            }
            #expect(before == nil)
            try await reader.query("START TRANSACTION WITH CONSISTENT SNAPSHOT")
            let after = try await ConsistentDumper.withTimeout(.seconds(5)) {
                await ConsistentDumper.waitForReadView(of: "reader", on: coordinator)
            }
            #expect(after == true)
            await reader.close()
            await coordinator.close()
        }
    }
}
