import CofferRedis
import CofferTestSupport
import Testing

@Suite("RedisConnection failures", .timeLimit(.minutes(1)))
struct RedisFailureTests {
    @Test("a port nobody listens on is unreachable, quickly")
    func unreachable() async throws {
        let port = try FreePort.next()
        let started = ContinuousClock.now
        let error = await #expect(throws: RedisError.self) {
            _ = try await RedisConnection.connect(to: RedisEndpoint(host: "127.0.0.1", port: port), timeout: .seconds(5), logger: testLogger)
        }
        #expect(error?.kind == "unreachable")
        #expect(ContinuousClock.now - started < .seconds(2))
    }

    @Test("a server that accepts but never answers times out within the bound")
    func silentServer() async throws {
        let listener = try SilentListener()
        let started = ContinuousClock.now
        let error = await #expect(throws: RedisError.self) {
            _ = try await RedisConnection.connect(to: listener.endpoint(), timeout: .milliseconds(500), logger: testLogger)
        }
        let elapsed = ContinuousClock.now - started
        #expect(error?.kind == "timedOut")
        #expect(elapsed >= .milliseconds(400))
        // Bounded by the 500 ms time-out, not by anything longer; 3.05 s has been seen on two loaded cores.
        #expect(elapsed < .seconds(10))
    }

    @Test("a silent server also times out the AUTH step")
    func silentServerWithPassword() async throws {
        let listener = try SilentListener()
        let error = await #expect(throws: RedisError.self) {
            _ = try await RedisConnection.connect(to: listener.endpoint(password: "pw"), timeout: .milliseconds(300), logger: testLogger)
        }
        #expect(error?.kind == "timedOut")
    }

    @Test("a command exceeding its own timeout fails as timedOut and closes the connection")
    func commandTimeout() async throws {
        try await RedisServer.withServer { server in
            let connection = try await server.connect()
            let started = ContinuousClock.now
            let error = await #expect(throws: RedisError.self) {
                _ = try await connection.command(["BLPOP", "empty-list", "10"], timeout: .milliseconds(300))
            }
            #expect(error?.kind == "timedOut")
            // Well before BLPOP's own 10 s (3.2 and 3.9 s seen at load average 10 and 12).
            #expect(ContinuousClock.now - started < .seconds(8))
            #expect(await connection.isOpen == false)
            let next = await #expect(throws: RedisError.self) {
                _ = try await connection.command("PING")
            }
            #expect(next == .connectionClosed)
        }
    }

    @Test("a server killed under an open connection gives connectionClosed")
    func serverKilled() async throws {
        let server = try await RedisServer.start()
        let connection = try await server.connect()
        #expect(try await connection.command("PING") == .simpleString("PONG"))
        server.kill()
        await server.stop()
        #expect(server.isRunning == false)
        let error = await #expect(throws: RedisError.self) {
            _ = try await connection.command("PING")
        }
        #expect(error == .connectionClosed)
        await server.stop()
    }

    @Test("error replies about credentials are classified as authentication failures")
    func classifiesErrorReplies() {
        let error = RedisError.fromErrorReply("NOAUTH Authentication required.")
        #expect(error.kind == "authenticationFailed")
        #expect(RedisError.fromErrorReply("NOPERM this user has no permissions").kind == "server")
        #expect(RedisError.fromErrorReply("ERR invalid password").kind == "authenticationFailed")
        #expect(
            RedisError.fromErrorReply("ERR AUTH <password> called without any password configured for the default user.").kind
                == "authenticationFailed"
        )
    }
}
