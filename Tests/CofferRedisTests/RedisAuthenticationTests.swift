import CofferRedis
import CofferTestSupport
import Testing

@Suite("RedisConnection authentication", .timeLimit(.minutes(1)))
struct RedisAuthenticationTests {
    @Test("the right password is accepted")
    func rightPassword() async throws {
        try await RedisServer.withServer(password: "s3cret pass") { server in
            let connection = try await RedisConnection.connect(to: server.endpoint, timeout: .seconds(5), logger: testLogger)
            #expect(try await connection.command("PING") == .simpleString("PONG"))
            await connection.close()
        }
    }

    @Test("a wrong password fails as authenticationFailed and the message does not contain it")
    func wrongPassword() async throws {
        try await RedisServer.withServer(password: "right") { server in
            let endpoint = server.endpoint(username: nil, password: "wrong-password-value")
            let error = await #expect(throws: RedisError.self) {
                _ = try await RedisConnection.connect(to: endpoint, timeout: .seconds(5), logger: testLogger)
            }
            #expect(error?.kind == "authenticationFailed")
            #expect(error.map { "\($0)".contains("wrong-password-value") } == false)
            #expect(!"\(endpoint)".contains("wrong-password-value"))
            #expect(!String(reflecting: endpoint).contains("wrong-password-value"))
        }
    }

    @Test("no password for a protected server fails as authenticationFailed")
    func missingPassword() async throws {
        try await RedisServer.withServer(password: "right") { server in
            let error = await #expect(throws: RedisError.self) {
                _ = try await RedisConnection.connect(to: server.endpoint(username: nil, password: nil), timeout: .seconds(5), logger: testLogger)
            }
            #expect(error?.kind == "authenticationFailed")
        }
    }

    @Test("a password for a server without one fails as authenticationFailed")
    func unexpectedPassword() async throws {
        try await RedisServer.withServer { server in
            let error = await #expect(throws: RedisError.self) {
                _ = try await RedisConnection.connect(to: server.endpoint(username: nil, password: "x"), timeout: .seconds(5), logger: testLogger)
            }
            #expect(error?.kind == "authenticationFailed")
        }
    }

    @Test("an ACL user authenticates with AUTH user password; a wrong one is refused")
    func aclUser() async throws {
        try await RedisServer.withServer(password: "admin") { server in
            let admin = try await server.connect()
            try await admin.commandExpectingSuccess("ACL", "SETUSER", "backup", "on", ">pw", "~*", "+@all")
            await admin.close()

            let backup = try await RedisConnection.connect(
                to: server.endpoint(username: "backup", password: "pw"),
                timeout: .seconds(5),
                logger: testLogger
            )
            let whoami = try await backup.command("ACL", "WHOAMI")
            #expect(whoami.string == "backup")
            await backup.close()

            let error = await #expect(throws: RedisError.self) {
                _ = try await RedisConnection.connect(
                    to: server.endpoint(username: "backup", password: "nope"), timeout: .seconds(5), logger: testLogger)
            }
            #expect(error?.kind == "authenticationFailed")
        }
    }
}
