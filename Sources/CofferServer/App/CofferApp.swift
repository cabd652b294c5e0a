import CofferCore
import CofferIAM
import CofferJobs
import CofferMySQL
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
            dataDirectory: configuration.dataDirectory, databaseURL: configuration.databaseURL, logger: logger)
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
        let tasks = InstanceTasks(jobs: store.jobs)
        let inspector = RedisInspector(logger: logger)
        let mysql = MySQLInspector(logger: logger)
        let instances = DCSInstanceController(store: store.dcs, blobs: store.blobs, inspector: inspector, tasks: tasks, clock: clock)
        let worker = JobWorker(
            store: store.jobs,
            handlers: [
                BlobSweepJob(blobs: store.blobs, logger: logger, clock: clock),
                DCSBackupJob(store: store.dcs, blobs: store.blobs, logger: logger, clock: clock, idleTimeout: configuration.backupIdleTimeout),
                DDMBackupJob(store: store.ddm, blobs: store.blobs, dumper: ConsistentDumper(logger: logger), logger: logger, clock: clock),
                DDMBackupDeleteJob(store: store.ddm, blobs: store.blobs, logger: logger, clock: clock),
            ],
            logger: logger, clock: clock)
        let routes = RouteTable(
            IAMController(
                identities: store.identities, service: IdentityService(store: store.identities, hasher: hasher), tokens: tokens,
                authenticator: authenticator, clock: clock
            ).routes
                + instances.routes
                + DCSBackupController(
                    store: store.dcs, blobs: store.blobs, instances: instances, tasks: tasks,
                    links: DownloadLinks(key: store.masterKey.derive(purpose: "coffer-download-link-v1")),
                    wakeWorker: { worker.wake() }, clock: clock
                ).routes
                + OperationsController(metrics: metrics, database: { try await store.ping() }).routes
                + DataNodeController(store: store.ddm, inspector: mysql, clock: clock).routes
                + DDMInstanceController(store: store.ddm, jobs: store.jobs, inspector: mysql, clock: clock).routes
                + DDMBackupController(store: store.ddm, jobs: store.jobs, clock: clock).routes
                + DDMJobController(jobs: store.jobs).routes)
        let responder = CofferResponder(routes: routes, authenticator: authenticator, metrics: metrics, clock: clock)
        let ready = StartSignal()
        var services: [any Service] = [store]
        if configuration.runsWorker {
            services.append(AfterStartup(ready: ready, service: worker))
            services.append(
                AfterStartup(
                    ready: ready,
                    service: DDMBackupScheduler(
                        store: store.ddm, jobs: store.jobs, period: configuration.ddmAutoBackupPeriod, checkInterval: .seconds(60),
                        logger: logger, clock: clock)))
        }
        var app = Application(
            responder: responder,
            configuration: ApplicationConfiguration(address: .hostname(configuration.host, port: configuration.port), serverName: "coffer"),
            services: services, logger: logger)
        app.beforeServerStarts {
            try await store.migrate(logger: logger)
            try await Bootstrap.run(store: store, configuration: configuration, hasher: hasher, logger: logger)
            let sweep = BlobSweepJob.job(now: clock())
            do {
                try await store.jobs.enqueue(sweep)
            } catch {
                // The unique index on active jobs: a sweep is already queued (by an earlier start, or another node).
                guard try await store.jobs.activeJob(projectID: sweep.projectID, resourceID: sweep.resourceID) != nil else { throw error }
            }
            ready.fire()
        }
        return (app, Parts(store: store, worker: worker, metrics: metrics, routes: routes))
    }
}
