import CofferMySQL
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// A real `mariadbd` for tests: its own datadir, socket and free loopback port, binary logging on (the
/// consistent-cut check reads binlog positions), and an administrator account `coffer` with a password,
/// created by an init file at every start so that credential checks are real.
///
/// The datadir is copied from a template that `mariadb-install-db` builds once per machine (3 s) and every
/// test process reuses, so each server starts in about a second.
package final class MariaDBServer: Sendable {
    /// The administrator created at start.
    package static let adminUser = "coffer"
    package static let adminPassword = "Coffer-test-pw1"

    package let port: Int
    package let directory: TemporaryDirectory
    private let process: ProcessRunner
    private let isStopping = Mutex(false)

    private init(port: Int, directory: TemporaryDirectory, process: ProcessRunner) {
        self.port = port
        self.directory = directory
        self.process = process
    }

    /// The administrator's endpoint.
    package var endpoint: MySQLEndpoint { self.endpoint(user: Self.adminUser, password: Self.adminPassword) }

    package func endpoint(user: String, password: String) -> MySQLEndpoint {
        MySQLEndpoint(host: "127.0.0.1", port: self.port, user: user, password: password)
    }

    package var isRunning: Bool { self.process.isRunning }

    /// Starts a server and waits (at most 30 s) until the administrator can log in.
    package static func start(binlog: Bool = true) async throws -> MariaDBServer {
        guard let mariadbd = ProcessRunner.locate("mariadbd") else { throw MariaDBServerError.executableNotFound("mariadbd") }
        let template = try await Self.template()
        var lastFailure = "no attempt made"
        for _ in 1...3 {
            let directory = try TemporaryDirectory(prefix: "coffer-mariadb")
            let data = directory.file("data").path
            let copy = try ProcessRunner(executable: URL(fileURLWithPath: "/bin/cp"), arguments: ["-a", template, data])
            _ = await copy.waitForExit(timeout: .seconds(30))
            let initFile = directory.file("init.sql")
            try """
            CREATE USER IF NOT EXISTS '\(Self.adminUser)'@'%' IDENTIFIED BY '\(Self.adminPassword)';
            GRANT ALL PRIVILEGES ON *.* TO '\(Self.adminUser)'@'%' WITH GRANT OPTION;
            """.write(to: initFile, atomically: true, encoding: .utf8)
            let port = try FreePort.next()
            var arguments = [
                "--no-defaults", "--datadir=\(data)", "--socket=\(directory.file("mysqld.sock").path)", "--port=\(port)",
                "--bind-address=127.0.0.1", "--skip-name-resolve", "--init-file=\(initFile.path)",
                "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=16M", "--log-error=\(directory.file("error.log").path)",
                "--pid-file=\(directory.file("mysqld.pid").path)", "--tmpdir=\(directory.path)",
            ]
            if getuid() == 0 { arguments.append("--user=root") }
            if binlog { arguments += ["--log-bin=\(data)/binlog", "--server-id=1"] }
            let process = try ProcessRunner(executable: mariadbd, arguments: arguments, standardError: directory.file("stderr.log"))
            let server = MariaDBServer(port: port, directory: directory, process: process)
            if await server.waitUntilReady(timeout: .seconds(30), datadir: data) { return server }
            lastFailure = server.diagnostics() + (server.process.isRunning ? "\nanother server answered on this port" : "")
            await server.stop()
            // A port taken in between (bind failure, or another fixture's server answering): try a new one.
            if !lastFailure.contains("Address already in use") && !lastFailure.contains("Do you already have another")
                && !lastFailure.contains("another server")
            { break }
        }
        throw MariaDBServerError.failedToStart(lastFailure)
    }

    /// Starts `count` servers concurrently.
    package static func start(count: Int, binlog: Bool = true) async throws -> [MariaDBServer] {
        _ = try await Self.template()
        return try await withThrowingTaskGroup(of: (Int, MariaDBServer).self) { group in
            for index in 0..<count { group.addTask { (index, try await Self.start(binlog: binlog)) } }
            var servers = [MariaDBServer?](repeating: nil, count: count)
            for try await (index, server) in group { servers[index] = server }
            return servers.map { $0! }
        }
    }

    /// Runs `body` with `count` servers and stops them whatever happens.
    package static func withServers<R: Sendable>(_ count: Int, binlog: Bool = true, _ body: ([MariaDBServer]) async throws -> R) async throws -> R {
        let servers = try await Self.start(count: count, binlog: binlog)
        do {
            let result = try await body(servers)
            for server in servers { await server.stop() }
            return result
        } catch {
            for server in servers { await server.stop() }
            throw error
        }
    }

    /// Runs statements as the administrator.
    @discardableResult
    package func execute(_ statements: String..., database: String? = nil) async throws -> [MySQLResultSet] {
        try await MySQLConnection.withConnection(to: self.endpoint, database: database, timeout: .seconds(30), logger: Self.quietLogger) {
            connection in
            var results: [MySQLResultSet] = []
            for statement in statements { results.append(try await connection.query(statement)) }
            return results
        }
    }

    /// Stops the server (SIGTERM, SIGKILL after 10 s) and deletes its directory.
    package func stop() async {
        let first = self.isStopping.withLock { stopping in
            defer { stopping = true }
            return !stopping
        }
        await self.process.terminate(gracePeriod: .seconds(10))
        if first { self.directory.remove() }
    }

    /// SIGKILL at once: a crashed data node.
    package func kill() {
        self.process.send(signal: SIGKILL)
    }

    /// Waits until the killed or stopped process has exited.
    package func waitForExit() async { _ = await self.process.waitForExit(timeout: .seconds(10)) }

    private static let quietLogger: Logger = {
        var logger = Logger(label: "coffer.test.mariadb")
        logger.logLevel = .critical
        return logger
    }()

    /// Waits until the server answers, and checks that the server answering is this one: when two fixtures
    /// pick the same free port at once, the loser's port answers with the winner's server (same account) until
    /// the loser exits, so the datadir decides.
    private func waitUntilReady(timeout: Duration, datadir: String) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline, self.process.isRunning {
            if let connection = try? await MySQLConnection.connect(to: self.endpoint, timeout: .seconds(2), logger: Self.quietLogger) {
                let answered = try? await connection.query("SELECT @@datadir AS d").value("d")
                await connection.close()
                guard let answered, answered.hasPrefix(datadir) else { return false }
                return self.process.isRunning
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    private func diagnostics() -> String {
        let log = (try? String(contentsOf: self.directory.file("error.log"), encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOf: self.directory.file("stderr.log"), encoding: .utf8)) ?? ""
        return (stderr + "\n" + log).split(separator: "\n").suffix(15).joined(separator: "\n")
    }

    // MARK: - Template datadir

    /// Built once per process, on first use; every caller awaits the same task.
    private static let templateTask = Task<String, any Error> { try await MariaDBServer.buildTemplate() }

    private static func template() async throws -> String { try await Self.templateTask.value }

    /// The template datadir, built by `mariadb-install-db` once per machine and user and then reused by
    /// every test process (it is never written to: servers run on copies). Built aside and renamed into
    /// place, so concurrent test processes never see half a template.
    private static func buildTemplate() async throws -> String {
        let shared = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-mariadb-template-v1-\(getuid())").path
        if FileManager.default.fileExists(atPath: shared + "/ready") { return shared + "/data" }
        guard let install = ProcessRunner.locate("mariadb-install-db") else {
            throw MariaDBServerError.executableNotFound("mariadb-install-db")
        }
        let directory = try TemporaryDirectory(prefix: "coffer-mariadb-template-build")
        let data = directory.file("data").path
        var arguments = ["--no-defaults", "--datadir=\(data)", "--auth-root-authentication-method=normal", "--skip-test-db"]
        if getuid() == 0 { arguments.append("--user=root") }
        let process = try ProcessRunner(executable: install, arguments: arguments, standardError: directory.file("install.log"))
        guard await process.waitForExit(timeout: .seconds(120)), process.terminationStatus == 0 else {
            let log = (try? String(contentsOf: directory.file("install.log"), encoding: .utf8)) ?? ""
            directory.remove()
            throw MariaDBServerError.failedToStart("mariadb-install-db failed: \(log.suffix(2000))")
        }
        _ = FileManager.default.createFile(atPath: directory.file("ready").path, contents: Data())
        if rename(directory.path, shared) != 0 {
            // Another process published its template first: use that one.
            directory.remove()
            guard FileManager.default.fileExists(atPath: shared + "/ready") else {
                throw MariaDBServerError.failedToStart("cannot publish the template datadir at \(shared)")
            }
        }
        return shared + "/data"
    }
}

/// Why a MariaDB fixture could not start.
package enum MariaDBServerError: Error, CustomStringConvertible {
    case executableNotFound(String)
    case failedToStart(String)

    package var description: String {
        switch self {
        case .executableNotFound(let name): "\(name) is not installed (scripts/install-deps installs mariadb-server)"
        case .failedToStart(let detail): "mariadbd did not start: \(detail)"
        }
    }
}
