import CofferStorage
import Foundation
import Logging

/// How `coffer serve` runs: flags, with the first-start account values from the environment.
package struct CofferConfiguration: Sendable {
    package var host: String = "127.0.0.1"
    package var port: Int = 8080
    package var dataDirectory: String = "./coffer-data"
    /// `sqlite:///path` or `postgres://…`; nil means `<data-dir>/coffer.sqlite`.
    package var databaseURL: String?
    /// Where backup files go (`BlobStoreURL`); nil means `<data-dir>/blobs`.
    package var blobs: BlobStoreURL?
    package var region: String = "local-1"
    package var logLevel: Logger.Level = .info
    /// `COFFER_ADMIN_PASSWORD`, `COFFER_ADMIN_ACCESS_KEY`, `COFFER_ADMIN_SECRET_KEY`: used at first start only.
    package var adminPassword: String?
    package var adminAccessKey: String?
    package var adminSecretKey: String?
    /// `COFFER_METRICS_TOKEN`: the bearer token `/metrics` asks for. Without it `/metrics` stays open but leaves out
    /// every series labelled with an instance id (another project's ids must not be readable without credentials).
    package var metricsToken: String?
    /// Whether the job worker runs (tests drive jobs by hand).
    package var runsWorker: Bool = true
    /// Period of the automatic DDM backup (`auto_metadata`); daily, as Huawei's. Runs only with the worker.
    package var ddmAutoBackupPeriod: TimeInterval = 86400
    /// Whether the first start prints the new account to standard output (tests read bootstrap.json instead).
    package var announcesFirstStart: Bool = true

    /// A backup fails when the Redis master stays silent this long (it sends a newline every second while preparing).
    package var backupIdleTimeout: Duration = .seconds(60)
    /// How long a job's lease lasts: a node that dies holding a job loses it to another node (or to itself after a
    /// restart) this long after its last renewal. Short leases find dead nodes sooner and cost more renewals.
    package var jobLease: Duration = .seconds(30)
    /// Address the restore fast path listens on while a target replicates from Coffer; nil turns the fast path off.
    package var restoreListenHost: String? = "127.0.0.1"
    /// Host a target dials to reach that listener (Coffer's address as the Redis servers see it). Without it the
    /// fast path is tried only for targets on this machine's loopback.
    package var restoreAdvertiseHost: String?

    package init() {}

    /// Reads the first-start values from the process environment.
    package mutating func readEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.adminPassword = environment["COFFER_ADMIN_PASSWORD"].flatMap { $0.isEmpty ? nil : $0 }
        self.adminAccessKey = environment["COFFER_ADMIN_ACCESS_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        self.adminSecretKey = environment["COFFER_ADMIN_SECRET_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        self.metricsToken = environment["COFFER_METRICS_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The endpoint users point the SDK at.
    package var endpoint: String { "http://\(self.host.contains(":") ? "[\(self.host)]" : self.host):\(self.port)" }
}
