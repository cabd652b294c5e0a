import CofferCore
import CofferJobs
import CofferMySQL
import CofferRedis
import Foundation
import Logging
import ServiceLifecycle

/// Coffer's use cases, wired over the stores: what the HTTP layer calls, the job handlers the worker runs, and
/// the schedulers that run beside it.
///
/// The HTTP layer parses, authenticates and renders; everything that reads or writes a store, talks to a
/// Redis or MySQL server or queues a job happens here.
package struct Operations: Sendable {
    /// What the operations need to know about how the server runs.
    package struct Settings: Sendable {
        /// A backup fails when the Redis master stays silent this long (it sends a newline every second while preparing).
        package var backupIdleTimeout: Duration = .seconds(60)
        /// Period of the automatic DDM backup (`auto_metadata`).
        package var ddmAutoBackupPeriod: TimeInterval = 86400
        /// How often schedulers look for due work.
        package var schedulerInterval: Duration = .seconds(60)
        /// How long an automatic DCS backup that found its instance busy waits before its next attempt (3 a day at most).
        package var dcsAutoBackupRetryDelay: TimeInterval = 900
        /// How often abandoned temporary blob files are swept while the server runs.
        package var blobSweepInterval: Duration = .seconds(600)

        /// Where the restore fast path (Coffer as the target's master) listens; nil turns it off.
        package var restoreListenHost: String? = "127.0.0.1"
        /// The host targets dial to reach that listener; nil limits the fast path to targets on loopback.
        package var restoreAdvertiseHost: String?
        /// Binlog archiving of DDM data nodes (segment interval, heartbeat, retries).
        package var binlogArchive = BinlogArchiver.Settings()

        package init() {}
    }

    package let dcsInstances: DCSInstanceOperations
    package let dcsBackups: DCSBackupOperations
    package let dcsRestores: DCSRestoreOperations
    package let dataNodes: DataNodeOperations
    package let ddmInstances: DDMInstanceOperations
    package let ddmBackups: DDMBackupOperations
    package let ddmRestoreWindows: DDMRestoreWindowQueries
    package let ddmRecovery: DDMRecoveryOperations
    package let ddmJobs: DDMJobQueries
    /// One handler per job kind, for the worker.
    package let jobHandlers: [any JobHandler]
    private let ddm: any DDMStore
    private let dcs: any DCSStore
    private let dcsAutoBackups: any DCSAutoBackupStore
    private let binlogs: (any BinlogArchiveStore)?
    private let blobs: any BlobStore
    /// Rung when a DCS backup policy is stored: wakes the DCS backup scheduler (tests watch it park).
    package let policyChanged: Doorbell
    private let jobs: any JobStore
    private let wakeWorker: @Sendable () -> Void
    private let settings: Settings
    private let logger: Logger
    private let clock: @Sendable () -> Date

    /// - Parameter wakeWorker: rung after each enqueue, so a job starts now rather than at the worker's next poll.
    package init(
        dcs: any DCSStore, dcsAutoBackups: any DCSAutoBackupStore, ddm: any DDMStore, jobs: any JobStore, blobs: any BlobStore,
        binlogs: (any BinlogArchiveStore)? = nil, settings: Settings, logger: Logger, clock: @escaping @Sendable () -> Date,
        wakeWorker: @escaping @Sendable () -> Void
    ) {
        let redis = RedisInspector(logger: logger)
        let mysql = MySQLInspector(logger: logger)
        let context = OperationContext(jobs: jobs, wakeWorker: wakeWorker, clock: clock)
        let policyChanged = Doorbell()
        self.policyChanged = policyChanged
        self.dcsInstances = DCSInstanceOperations(store: dcs, inspector: redis, context: context, policyChanged: { policyChanged.ring() })
        self.dcsBackups = DCSBackupOperations(store: dcs, blobs: blobs, instances: self.dcsInstances, context: context)
        self.dcsRestores = DCSRestoreOperations(store: dcs, instances: self.dcsInstances, context: context)
        self.dataNodes = DataNodeOperations(store: ddm, inspector: mysql, clock: clock)
        self.ddmInstances = DDMInstanceOperations(store: ddm, inspector: mysql, context: context)
        self.ddmBackups = DDMBackupOperations(store: ddm, instances: self.ddmInstances, context: context)
        self.ddmRestoreWindows = DDMRestoreWindowQueries(store: ddm, archive: binlogs, instances: self.ddmInstances)
        self.ddmJobs = DDMJobQueries(jobs: jobs)
        self.ddmRecovery = DDMRecoveryOperations(
            store: ddm, archive: binlogs, blobs: blobs, instances: self.ddmInstances, inspector: mysql, context: context)
        let fastPath = settings.restoreListenHost.map { ReplicaLoader.Options(listenHost: $0, advertisedHost: settings.restoreAdvertiseHost) }
        let restorer = RedisRestoreEngine(blobs: blobs, logger: logger, replication: fastPath)
        self.jobHandlers = [
            BlobSweepJob(blobs: blobs, logger: logger, clock: clock),
            DCSBackupJob(store: dcs, blobs: blobs, logger: logger, clock: clock, idleTimeout: settings.backupIdleTimeout),
            DCSBackupDeleteJob(store: dcs, blobs: blobs, logger: logger, clock: clock),
            DCSRestoreJob(store: dcs, engine: restorer, logger: logger, clock: clock),
            DCSInstanceDeleteJob(store: dcs, blobs: blobs, logger: logger, clock: clock),
            DDMBackupJob(store: ddm, blobs: blobs, dumper: ConsistentDumper(logger: logger), logger: logger, clock: clock),
            DDMBackupDeleteJob(
                store: ddm, blobs: blobs, logger: logger, clock: clock,
                binlogRetention: binlogs.map { BinlogRetention(ddm: ddm, archive: $0, blobs: blobs, logger: logger) }),
            DDMInstanceDeleteJob(store: ddm, inspector: mysql, logger: logger, clock: clock),
            DDMRecoveryJob(
                store: ddm, archive: binlogs, blobs: blobs, jobs: jobs, loader: RestoreLoader(logger: logger), logger: logger, clock: clock),
            DDMMetadataRecoveryJob(store: ddm, blobs: blobs, logger: logger, clock: clock),
        ]
        self.ddm = ddm
        self.dcs = dcs
        self.dcsAutoBackups = dcsAutoBackups
        self.binlogs = binlogs
        self.blobs = blobs
        self.jobs = jobs
        self.wakeWorker = wakeWorker
        self.settings = settings
        self.logger = logger
        self.clock = clock
    }

    /// Automatic DCS backups by policy, and retention; woken by every policy change made through `dcsInstances`.
    package var dcsBackupScheduler: DCSBackupScheduler {
        DCSBackupScheduler(
            store: self.dcs, schedule: self.dcsAutoBackups, jobs: self.jobs, checkInterval: self.settings.schedulerInterval,
            retryDelay: self.settings.dcsAutoBackupRetryDelay, policyChanged: self.policyChanged, logger: self.logger,
            wakeWorker: self.wakeWorker, clock: self.clock)
    }

    /// The lease names of the elected work: one node at a time runs each (`Leadership`).
    package enum LeaseName {
        /// DCS automatic backups and their retention (one tick does both).
        package static let dcsBackupPolicy = "scheduler.dcs-backup-policy"
        package static let ddmDailyBackup = "scheduler.ddm-daily-backup"
        package static let blobSweep = "scheduler.blob-sweep"
        /// Recovery of expired jobs (`JobWorker`).
        package static let jobRecovery = "jobs.recovery"
    }

    /// The schedulers, to run beside the job worker. With `leases`, each runs its ticks only while this node
    /// (`node`) holds its lease, so several nodes on one database run each tick once; the binlog archive service
    /// splits data nodes between servers with leases of its own.
    package func schedulers(leases: (any LeaseStore)?, node: String) -> [any Service] {
        let archive: [any Service] = self.binlogs.map {
            [BinlogArchiveService(ddm: self.ddm, archive: $0, blobs: self.blobs, settings: self.settings.binlogArchive, logger: self.logger, clock: self.clock)]
        } ?? []
        let leadership = { (name: String) in
            leases.map { Leadership(name: name, owner: node, store: $0, logger: self.logger, clock: self.clock) }
        }
        func elected(_ service: any Service, _ leadership: Leadership?) -> any Service {
            leadership.map { Elected($0, service) } ?? service
        }
        var dcs = self.dcsBackupScheduler
        dcs.leadership = leadership(LeaseName.dcsBackupPolicy)
        var ddm = DDMBackupScheduler(
            store: self.ddm, backups: self.ddmBackups, period: self.settings.ddmAutoBackupPeriod,
            checkInterval: self.settings.schedulerInterval, logger: self.logger, clock: self.clock)
        ddm.leadership = leadership(LeaseName.ddmDailyBackup)
        var sweep = BlobSweepScheduler(
            jobs: self.jobs, interval: self.settings.blobSweepInterval, logger: self.logger, wakeWorker: self.wakeWorker, clock: self.clock)
        sweep.leadership = leadership(LeaseName.blobSweep)
        return archive + [elected(dcs, dcs.leadership), elected(ddm, ddm.leadership), elected(sweep, sweep.leadership)]
    }
}
