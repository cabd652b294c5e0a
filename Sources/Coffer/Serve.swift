import ArgumentParser
import CofferServer
import CofferStorage
import Foundation
import Hummingbird
import Logging

/// `coffer serve`: runs the API server until SIGTERM/SIGINT, then shuts down gracefully.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the Coffer API server.",
        discussion: """
            Environment: COFFER_METRICS_TOKEN, the bearer token /metrics asks for (its per-instance series are left \
            out without one); COFFER_ADMIN_PASSWORD / _ACCESS_KEY / _SECRET_KEY for the first start's account.
            """)

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on.") var port = 8080
    @Option(
        help: """
            Directory for the SQLite database, the master key and backup files. COFFER_MASTER_KEY (base64 of 32 bytes, \
            the master.key file's text) gives the key instead of <data-dir>/master.key: every node on one database needs the same key.
            """)
    var dataDir = "./coffer-data"
    @Option(help: "sqlite:///path (default <data-dir>/coffer.sqlite) or postgres://user:pass@host:port/db.") var database: String?
    @Option(
        help: """
            Where backup files go: file:///path (default <data-dir>/blobs) or \
            's3://bucket?endpoint=http://host:port&region=us-east-1' with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY set.
            """)
    var blobs: String?
    @Option(help: "Region name: the first project's name.") var region = "local-1"
    @Option(help: "Log level (trace, debug, info, notice, warning, error, critical).") var logLevel = "info"
    @Option(help: "Address the restore fast path listens on while a Redis target replicates from Coffer; 'off' disables it.")
    var restoreListenHost = "127.0.0.1"
    @Option(help: "Host Redis targets dial to reach that listener; without it the fast path is used only for targets on loopback.")
    var restoreAdvertiseHost: String?
    @Option(help: "Seconds a job's lease lasts: the jobs of a node that died are taken over this long after its last renewal.")
    var jobLeaseSeconds = 30

    func run() async throws {
        var configuration = CofferConfiguration()
        configuration.host = self.host
        configuration.port = self.port
        configuration.dataDirectory = self.dataDir
        configuration.databaseURL = self.database
        do {
            configuration.blobs = try BlobStoreURL(self.blobs, dataDirectory: self.dataDir, environment: ProcessInfo.processInfo.environment)
        } catch {
            throw ValidationError("--blobs: \(error)")
        }
        configuration.region = self.region
        configuration.restoreListenHost = self.restoreListenHost == "off" ? nil : self.restoreListenHost
        configuration.restoreAdvertiseHost = self.restoreAdvertiseHost
        guard (1...3600).contains(self.jobLeaseSeconds) else { throw ValidationError("--job-lease-seconds must be between 1 and 3600") }
        configuration.jobLease = .seconds(self.jobLeaseSeconds)
        configuration.readEnvironment()
        guard let level = Logger.Level(rawValue: self.logLevel) else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        var logger = Logger(label: "coffer")
        logger.logLevel = level
        try SingleNodeLock.acquire(databaseURL: self.database, dataDirectory: self.dataDir)
        let (app, _) = try await CofferApp.build(configuration, logger: logger)
        try await app.runService()
    }
}
