import CofferRedis
import CofferTestSupport
import Foundation
import Testing

@Suite("Test fixtures: RedisServer, FreePort, TemporaryDirectory", .timeLimit(.minutes(1)))
struct RedisServerFixtureTests {
    @Test("stop honours SIGTERM promptly, removes the directory and may be called twice")
    func stopIsPromptAndIdempotent() async throws {
        let server = try await RedisServer.start(extraArguments: ["--loglevel", "verbose"])
        #expect(server.isRunning)
        #expect(FileManager.default.fileExists(atPath: server.logPath.path))
        let started = ContinuousClock.now
        await server.stop()
        // SIGKILL would only come after 5 s: a quicker exit means redis-server handled SIGTERM.
        #expect(ContinuousClock.now - started < .seconds(4))
        #expect(!server.isRunning)
        #expect(!FileManager.default.fileExists(atPath: server.directory.path))
        await server.stop()
    }

    @Test("extra arguments reach the server")
    func extraArguments() async throws {
        try await RedisServer.withServer(extraArguments: ["--databases", "3"]) { server in
            let connection = try await server.connect()
            let reply = try await connection.command("CONFIG", "GET", "databases")
            #expect(reply.array?.compactMap(\.string) == ["databases", "3"])
            await connection.close()
        }
    }

    @Test("servers started together get different ports")
    func parallelServers() async throws {
        let servers = try await withThrowingTaskGroup(of: RedisServer.self) { group in
            for _ in 0..<3 {
                group.addTask { try await RedisServer.start() }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(servers.map(\.port)).count == 3)
        for server in servers {
            await server.stop()
        }
    }

    @Test("FreePort returns a bindable loopback port")
    func freePort() throws {
        let port = try FreePort.next()
        #expect((1...65535).contains(port))
    }

    @Test("TemporaryDirectory is created and removed")
    func temporaryDirectory() throws {
        let directory = try TemporaryDirectory()
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory))
        #expect(isDirectory.boolValue)
        try Data("x".utf8).write(to: directory.file("a.txt"))
        directory.remove()
        #expect(!FileManager.default.fileExists(atPath: directory.path))
        directory.remove()
    }
}
