import CofferRedis
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A real `redis-server` process for tests, on a free loopback port, with its own directory.
///
/// The server runs without persistence (`--save ""`, `--appendonly no`) and logs to ``logPath``. Tests
/// should stop it when done; ``withServer(password:extraArguments:_:)`` does that whatever happens.
/// Safe to share between tasks; ``stop()`` may be called any number of times.
package final class RedisServer: Sendable {
    /// The port the server listens on (on 127.0.0.1).
    package let port: Int
    /// The `requirepass` password, if any.
    package let password: String?
    /// The server's working directory (`--dir`): RDB files, the log.
    package let directory: URL
    /// The server's log file.
    package let logPath: URL
    private let temporaryDirectory: TemporaryDirectory
    private let process: ProcessRunner
    /// Whether ``stop()`` has started; later calls only wait for the exit.
    private let isStopping: Mutex<Bool>

    private init(port: Int, password: String?, temporaryDirectory: TemporaryDirectory, process: ProcessRunner) {
        self.port = port
        self.password = password
        self.temporaryDirectory = temporaryDirectory
        self.directory = temporaryDirectory.url
        self.logPath = temporaryDirectory.file("redis.log")
        self.process = process
        self.isStopping = Mutex(false)
    }

    /// The endpoint of the server with its `requirepass` password (or none).
    package var endpoint: RedisEndpoint {
        RedisEndpoint(host: "127.0.0.1", port: self.port, password: self.password)
    }

    /// The endpoint of the server with other credentials, e.g. an ACL user or a wrong password.
    ///
    /// - Parameters:
    ///   - username: ACL user, or `nil` for the default user.
    ///   - password: Password to present.
    /// - Returns: The endpoint.
    package func endpoint(username: String?, password: String?) -> RedisEndpoint {
        RedisEndpoint(host: "127.0.0.1", port: self.port, username: username, password: password)
    }

    /// Whether the server process is still alive.
    package var isRunning: Bool {
        self.process.isRunning
    }

    /// Starts a server and waits (at most 10 s) until it answers `PING`.
    ///
    /// - Parameters:
    ///   - password: Sets `--requirepass` when given.
    ///   - extraArguments: More `redis-server` arguments, e.g. `["--maxmemory", "100mb"]`.
    /// - Returns: The running server.
    /// - Throws: ``RedisServerError`` when `redis-server` is missing or does not come up.
    ///   - preload: an RDB file the server loads at start (copied into its directory as `dump.rdb`).
    package static func start(password: String? = nil, extraArguments: [String] = [], preload: URL? = nil) async throws -> RedisServer {
        guard let executable = ProcessRunner.locate("redis-server") else {
            throw RedisServerError.executableNotFound
        }
        var lastFailure = "no attempt made"
        // The free port can be taken between choosing and binding it; a new port fixes that.
        for _ in 1...3 {
            let directory = try TemporaryDirectory(prefix: "coffer-redis")
            let port: Int
            let process: ProcessRunner
            do {
                port = try FreePort.next()
                if let preload {
                    try FileManager.default.copyItem(at: preload, to: directory.file("dump.rdb"))
                }
                var arguments = [
                    "--port", "\(port)", "--bind", "127.0.0.1", "--dir", directory.path,
                    "--save", "", "--appendonly", "no", "--daemonize", "no",
                    "--logfile", directory.file("redis.log").path,
                ]
                if let password {
                    arguments += ["--requirepass", password]
                }
                arguments += extraArguments
                process = try ProcessRunner(executable: executable, arguments: arguments, standardError: directory.file("redis.stderr"))
            } catch {
                directory.remove()
                throw error
            }
            let server = RedisServer(port: port, password: password, temporaryDirectory: directory, process: process)
            // Generous: a ready server answers in milliseconds, but when every suite starts its servers at once on
            // two cores the first PING has been seen to wait over 10 s (MariaDB gets 30 s too).
            if await server.waitUntilReady(timeout: .seconds(30)) {
                return server
            }
            lastFailure = server.diagnostics()
            await server.stop()
            if !lastFailure.contains("Address already in use") {
                break
            }
        }
        throw RedisServerError.failedToStart(lastFailure)
    }

    /// Starts a server, runs `body`, and stops the server whatever happens.
    ///
    /// - Parameters:
    ///   - password: Sets `--requirepass` when given.
    ///   - extraArguments: More `redis-server` arguments.
    ///   - body: The test.
    /// - Returns: What `body` returns.
    /// - Throws: Start errors, or what `body` throws.
    package static func withServer<Result: Sendable>(
        password: String? = nil,
        extraArguments: [String] = [],
        _ body: (RedisServer) async throws -> Result
    ) async throws -> Result {
        let server = try await Self.start(password: password, extraArguments: extraArguments)
        do {
            let result = try await body(server)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }

    /// Opens a connection to the server with its own credentials.
    ///
    /// - Parameters:
    ///   - timeout: Connect and per-request bound.
    ///   - logger: Logger for the connection.
    /// - Returns: An open connection.
    /// - Throws: ``RedisError``.
    package func connect(timeout: Duration = .seconds(5), logger: Logger = Logger(label: "coffer.test.redis")) async throws -> RedisConnection {
        try await RedisConnection.connect(to: self.endpoint, timeout: timeout, logger: logger)
    }

    /// Stops the server (SIGTERM, SIGKILL after 5 s) and deletes its directory. Later calls wait for the
    /// exit and return.
    package func stop() async {
        let isFirstCall = self.isStopping.withLock { isStopping in
            defer { isStopping = true }
            return !isStopping
        }
        await self.process.terminate(gracePeriod: .seconds(5))
        if isFirstCall {
            self.temporaryDirectory.remove()
        }
    }

    /// Kills the server with SIGKILL at once, without waiting, to simulate a crash. Call ``stop()`` later to
    /// reap it and remove its directory.
    package func kill() {
        self.process.send(signal: SIGKILL)
    }

    /// The last lines of the log and standard error, for start failures.
    private func diagnostics() -> String {
        let stderr = (try? String(contentsOf: self.temporaryDirectory.file("redis.stderr"), encoding: .utf8)) ?? ""
        let log = (try? String(contentsOf: self.logPath, encoding: .utf8)) ?? ""
        let tail = (stderr + "\n" + log).split(separator: "\n").suffix(15).joined(separator: "\n")
        let status = self.process.terminationStatus.map { "exited with status \($0)" } ?? "still running, not answering PING"
        return "\(status) (port \(self.port)); output:\n\(tail)"
    }

    /// Polls until the server answers or exits.
    ///
    /// The answer must come from this process (`INFO server` names its pid): when two tests are handed the
    /// same free port, the loser's server fails to bind, and a mere `PING` would be answered by the winner's.
    private func waitUntilReady(timeout: Duration) async -> Bool {
        var logger = Logger(label: "coffer.test.redis-server")
        logger.logLevel = .critical
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline, self.process.isRunning {
            if let connection = try? await RedisConnection.connect(to: self.endpoint, timeout: .seconds(1), logger: logger) {
                let info = try? await connection.info("server")
                await connection.close()
                if info?.sections["server"]?["process_id"] == String(self.process.processIdentifier) { return true }
            }
            try? await Task.sleep(for: .milliseconds(25))
        }
        return false
    }
}
