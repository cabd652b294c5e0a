import CofferCore
import CofferIAM
import CofferJobs
import CofferOperations
import CofferStorage
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// Builds the whole server from a configuration: the one function `coffer serve` and the tests call.
package enum CofferApp {
    /// What a built server is made of, for tests that reach behind the HTTP API.
    package struct Parts: Sendable {
        package let store: CofferStore
        package let operations: Operations
        package let worker: JobWorker
        package let metrics: HTTPMetrics
        package let routes: RouteTable
    }

    /// Opens the store and wires routes, worker and services.
    package static func build(
        _ configuration: CofferConfiguration, logger: Logger, hasher: PasswordHasher = PasswordHasher(),
        clock: @escaping @Sendable () -> Date = { Date() }
    ) async throws -> (some ApplicationProtocol, Parts) {
        let store = try await CofferStore.open(
            dataDirectory: configuration.dataDirectory, databaseURL: configuration.databaseURL, blobs: configuration.blobs, logger: logger)
        return self.build(configuration, store: store, logger: logger, hasher: hasher, clock: clock)
    }

    /// Wires a server over an opened store.
    ///
    /// Start-up order: the store runs first among the services (so it stops last); migrations, the first
    /// account and the start-up sweep run in `beforeServerStarts`, once the store runs; the worker and the
    /// scheduler wait for them (`AfterStartup`); then the server opens its port.
    package static func build(
        _ configuration: CofferConfiguration, store: CofferStore, logger: Logger, hasher: PasswordHasher = PasswordHasher(),
        clock: @escaping @Sendable () -> Date = { Date() }
    ) -> (some ApplicationProtocol, Parts) {
        let tokens = TokenService(key: store.masterKey.derive(purpose: "coffer-iam-token-v1"))
        let authenticator = Authenticator(identities: store.identities, tokens: tokens)
        let metrics = HTTPMetrics()
        let doorbell = Doorbell()
        var settings = Operations.Settings()
        settings.backupIdleTimeout = configuration.backupIdleTimeout
        settings.ddmAutoBackupPeriod = configuration.ddmAutoBackupPeriod
        settings.restoreListenHost = configuration.restoreListenHost
        settings.restoreAdvertiseHost = configuration.restoreAdvertiseHost
        let operations = Operations(
            dcs: store.dcs, dcsAutoBackups: store.dcsAutoBackups, ddm: store.ddm, jobs: store.jobs, blobs: store.blobs, binlogs: store.binlogs,
            settings: settings, logger: logger, clock: clock,
            wakeWorker: { doorbell.ring() })
        // Several nodes on one PostgreSQL: other nodes' enqueues ring this node's doorbell (LISTEN), so the poll is
        // only the safety net; cluster-wide periodic work runs on the holder of its lease. SQLite is one node.
        let node = "node-" + Identifiers.uuid()
        let notifications = store.jobNotifications(ring: { doorbell.ring() }, logger: logger)
        let leases = notifications == nil ? nil : store.leases
        var workerConfiguration = JobWorker.Configuration()
        if notifications != nil { workerConfiguration.pollInterval = .seconds(5) }
        workerConfiguration.leaseDuration = configuration.jobLease
        workerConfiguration.recoveryInterval = min(workerConfiguration.recoveryInterval, configuration.jobLease / 2)
        let metricsStore = SQLBackupMetricsStore(provider: store.provider)
        let backupMetrics = BackupMetrics(registry: metrics.registry, store: metricsStore, logger: logger, clock: clock)
        let handlers = operations.jobHandlers.map { MeteredJobHandler.wrap($0, metrics: backupMetrics, store: metricsStore) }
        let worker = JobWorker(
            store: store.jobs, handlers: handlers, configuration: workerConfiguration, doorbell: doorbell, logger: logger,
            clock: clock,
            recoveryLeadership: leases.map {
                // Recovery moves to a survivor as fast as the jobs it recovers expire.
                Leadership(name: Operations.LeaseName.jobRecovery, owner: node, store: $0, duration: configuration.jobLease, logger: logger, clock: clock)
            })
        let dcsInstances = DCSInstanceController(operations: operations.dcsInstances, clock: clock)
        let routes = RouteTable(
            IAMController(
                service: IdentityService(store: store.identities, hasher: hasher), tokens: tokens,
                authenticator: authenticator, clock: clock
            ).routes
                + dcsInstances.routes
                + DCSBackupController(
                    operations: operations.dcsBackups, links: DownloadLinks(key: store.masterKey.derive(purpose: "coffer-download-link-v1")),
                    clock: clock
                ).routes
                + DCSRestoreController(operations: operations.dcsRestores).routes
                + OperationsController(
                    metrics: metrics, backupMetrics: backupMetrics, metricsToken: configuration.metricsToken, database: { try await store.ping() }
                ).routes
                + DataNodeController(operations: operations.dataNodes, instances: operations.ddmInstances).routes
                + DDMInstanceController(operations: operations.ddmInstances, clock: clock).routes
                + DDMBackupController(operations: operations.ddmBackups, windows: operations.ddmRestoreWindows).routes
                + DDMRecoveryController(operations: operations.ddmRecovery).routes
                + DDMJobController(queries: operations.ddmJobs).routes
                + ConsoleController(
                    identities: IdentityService(store: store.identities, hasher: hasher), tokens: tokens, authenticator: authenticator,
                    session: ConsoleSession(csrfKey: store.masterKey.derive(purpose: "coffer-console-csrf-v1")),
                    operations: operations, links: DownloadLinks(key: store.masterKey.derive(purpose: "coffer-download-link-v1")), clock: clock
                ).routes)
        let responder = CofferResponder(routes: routes, authenticator: authenticator, metrics: metrics, clock: clock)
        let ready = StartSignal()
        var services: [any Service] = [store]
        if configuration.runsWorker {
            if let notifications { services.append(AfterStartup(ready: ready, service: notifications)) }
            services.append(AfterStartup(ready: ready, service: worker))
            for scheduler in operations.schedulers(leases: leases, node: node) { services.append(AfterStartup(ready: ready, service: scheduler)) }
        }
        var app = Application(
            responder: responder,
            configuration: ApplicationConfiguration(address: .hostname(configuration.host, port: configuration.port), serverName: "coffer"),
            services: services, logger: logger)
        app.beforeServerStarts {
            try await store.migrate(logger: logger)
            try await Bootstrap.run(store: store, configuration: configuration, hasher: hasher, logger: logger)
            // A sweep already queued (by an earlier start, or another node) is as good as a new one.
            _ = try await store.jobs.enqueueIfIdle(BlobSweepJob.job(now: clock()))
            ready.fire()
        }
        return (app, Parts(store: store, operations: operations, worker: worker, metrics: metrics, routes: routes))
    }
}
