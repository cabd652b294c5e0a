import CofferCore
import CofferJobs
import CofferOperations
import CofferServer
import CofferStorage
import CofferTestSupport
import Foundation
import HTTPTypes
import Logging
import NIOCore
import Synchronization
import Testing

/// Automatic DCS backups by policy and retention, with the clock moved by hand (no sleeping for hours).
@Suite("DCS automatic backups and retention", .timeLimit(.minutes(3)))
struct DCSBackupSchedulerTests {
    /// A clock the test sets; the server, the worker and the scheduler all read it.
    final class ManualClock: Sendable {
        private let current: Mutex<Date>
        init(_ start: Date) { self.current = Mutex(start) }
        var now: Date { self.current.withLock { $0 } }
        func set(_ date: Date) { self.current.withLock { $0 = date } }
    }

    /// Monday 30 November 2026, 00:00 UTC.
    static let monday = Date(timeIntervalSince1970: 1_795_996_800)
    static func at(day: Int = 0, _ hour: Int, _ minute: Int = 0) -> Date {
        Self.monday.addingTimeInterval(TimeInterval(day * 86400 + hour * 3600 + minute * 60))
    }

    /// Mondays and Wednesdays, 02:00–03:00 UTC, kept two days.
    static let policyJSON =
        #"{"instance_backup_policy": {"backup_type": "auto", "save_days": 2, "periodical_backup_plan": {"backup_at": [1, 3], "period_type": "weekly", "begin_at": "02:00-03:00"}}}"#

    /// Requests are signed at the server's (moved) time: the gateway refuses a signature 15 minutes off.
    static func adopt(_ server: TestServer, _ clock: ManualClock, _ redis: RedisServer, name: String = "cache-01") async throws -> String {
        let created = try await server.signed(
            .post, "/v2/\(server.projectID)/instances", json: DCSInstanceTests.createBody(name: name, port: redis.port, password: redis.password),
            date: clock.now)
        try #require(created.status == .ok, "\(String(buffer: created.body))")
        return try #require((created.json["instances"] as? [[String: Any]])?.first?["instance_id"] as? String)
    }

    static func requestBackup(_ server: TestServer, _ clock: ManualClock, _ instanceID: String) async throws -> HTTPResponse.Status {
        try await server.signed(.post, "/v2/\(server.projectID)/instances/\(instanceID)/backups", date: clock.now).status
    }

    static func setPolicy(_ server: TestServer, _ clock: ManualClock, _ instanceID: String, json: String = Self.policyJSON) async throws {
        let reply = try await server.signed(.put, "/v2/\(server.projectID)/instances/\(instanceID)", json: json, date: clock.now)
        try #require(reply.status == .noContent, "\(String(buffer: reply.body))")
    }

    static func records(_ server: TestServer, _ clock: ManualClock, _ instanceID: String) async throws -> [[String: Any]] {
        let list = try await server.signed(.get, "/v2/\(server.projectID)/instances/\(instanceID)/backups?limit=1000", date: clock.now)
        return try #require(list.json["backup_record_response"] as? [[String: Any]])
    }

    static func autoRecords(_ server: TestServer, _ clock: ManualClock, _ instanceID: String) async throws -> [[String: Any]] {
        try await Self.records(server, clock, instanceID).filter { $0["backup_type"] as? String == "auto" }
    }

    /// Another scheduler over the same database and blob store: a second node, or this one after a restart.
    static func otherNode(_ server: TestServer, clock: ManualClock) -> DCSBackupScheduler {
        let store = server.parts.store
        var logger = Logger(label: "coffer.test.node2")
        logger.logLevel = .warning
        return Operations(
            dcs: store.dcs, dcsAutoBackups: store.dcsAutoBackups, ddm: store.ddm, jobs: store.jobs, blobs: store.blobs,
            settings: Operations.Settings(), logger: logger, clock: { clock.now }, wakeWorker: {}
        ).dcsBackupScheduler
    }

    @Test("The window: the policy's UTC weekdays and hour only")
    func window() throws {
        let policy = BackupPolicy(
            backupType: "auto", saveDays: 2,
            periodicalBackupPlan: BackupPlan(timezoneOffset: nil, backupAt: [1, 3, 7], periodType: "weekly", beginAt: "02:00-03:00"))
        let inside = try #require(DCSBackupScheduler.window(of: policy, at: Self.at(2, 30)))
        #expect(inside.day == Int64(Self.monday.timeIntervalSince1970 / 86400))
        #expect(inside.end == Self.at(3))
        #expect(inside.period == "02:00-03:00")
        #expect(DCSBackupScheduler.window(of: policy, at: Self.at(2)) != nil, "the first second of the window")
        #expect(DCSBackupScheduler.window(of: policy, at: Self.at(1, 59)) == nil)
        #expect(DCSBackupScheduler.window(of: policy, at: Self.at(3)) == nil, "the window ends at 03:00")
        #expect(DCSBackupScheduler.window(of: policy, at: Self.at(day: 1, 2, 30)) == nil, "Tuesday is not in backup_at")
        #expect(DCSBackupScheduler.window(of: policy, at: Self.at(day: 2, 2, 30))?.day == inside.day + 2, "Wednesday")
        #expect(DCSBackupScheduler.window(of: policy, at: Self.at(day: 6, 2, 30)) != nil, "7 is Sunday")
        #expect(DCSBackupScheduler.window(of: policy, at: Self.at(day: 5, 2, 30)) == nil, "Saturday")
        var manual = policy
        manual.backupType = "manual"
        #expect(DCSBackupScheduler.window(of: manual, at: Self.at(2, 30)) == nil)
        var midnight = policy
        midnight.periodicalBackupPlan?.beginAt = "23:00-00:00"
        #expect(DCSBackupScheduler.window(of: midnight, at: Self.at(23, 59))?.end == Self.at(day: 1, 0))
    }

    @Test("One automatic backup in the window on the policy's weekdays, none outside, once a day even after a restart")
    func backsUpInTheWindow() async throws {
        try await RedisServer.withServer(extraArguments: DCSBackupTests.redisArguments(diskless: "yes")) { redis in
            let clock = ManualClock(Self.at(1, 30))
            try await TestServer.run(clock: { clock.now }) { server in
                let instanceID = try await Self.adopt(server, clock, redis)
                try await Self.setPolicy(server, clock, instanceID)
                let scheduler = server.parts.operations.dcsBackupScheduler
                for time in [Self.at(1, 30), Self.at(1, 59), Self.at(day: 1, 2, 30), Self.at(day: 2, 3, 0)] {
                    clock.set(time)
                    #expect(try await scheduler.runOnce().queued == 0, "nothing at \(time)")
                }
                clock.set(Self.at(2, 5))
                #expect(try await scheduler.runOnce().queued == 1)
                #expect(try await scheduler.runOnce().queued == 0, "the day's backup is queued already")
                #expect(try await server.parts.worker.runOnce()?.status == .succeeded)
                clock.set(Self.at(2, 40))
                #expect(try await scheduler.runOnce().queued == 0, "after it finished, still once a day")
                #expect(try await Self.otherNode(server, clock: clock).runOnce().queued == 0, "a restarted scheduler knows the day is done")

                let records = try await Self.autoRecords(server, clock, instanceID)
                try #require(records.count == 1)
                #expect(records[0]["status"] as? String == "succeed")
                #expect(records[0]["period"] as? String == "02:00-03:00")
                #expect(records[0]["is_support_restore"] as? String == "TRUE")
                #expect(records[0]["created_at"] as? String == "2026-11-30T02:05:00.000Z")

                clock.set(Self.at(day: 2, 2, 1))  // Wednesday
                #expect(try await scheduler.runOnce().queued == 1)
                #expect(try await server.parts.worker.runOnce()?.status == .succeeded)
                #expect(try await Self.autoRecords(server, clock, instanceID).count == 2)
                #expect(try await Self.records(server, clock, instanceID).count == 2, "no manual backup appeared")
            }
        }
    }

    @Test("Two schedulers on one database, racing, and a restart: one backup a day", .timeLimit(.minutes(2)), arguments: TestDatabase.available)
    func oncePerDayAcrossNodes(database: TestDatabase) async throws {
        try await RedisServer.withServer(extraArguments: DCSBackupTests.redisArguments(diskless: "yes")) { redis in
            let clock = ManualClock(Self.at(2, 10))
            try await TestServer.run(database: database, clock: { clock.now }) { server in
                let instanceID = try await Self.adopt(server, clock, redis)
                try await Self.setPolicy(server, clock, instanceID)
                let nodes = [server.parts.operations.dcsBackupScheduler, Self.otherNode(server, clock: clock)]
                let queued = try await withThrowingTaskGroup(of: Int.self) { group in
                    for round in 0..<16 {
                        let node = nodes[round % 2]
                        group.addTask { try await node.runOnce().queued }
                    }
                    return try await group.reduce(0, +)
                }
                #expect(queued == 1)
                #expect(try await Self.autoRecords(server, clock, instanceID).count == 1)
                // The backup finished and the instance is idle: a restarted node still does not start a second one.
                #expect(try await server.parts.worker.runOnce()?.status == .succeeded)
                clock.set(Self.at(2, 50))
                #expect(try await Self.otherNode(server, clock: clock).runOnce().queued == 0)
                #expect(try await Self.autoRecords(server, clock, instanceID).count == 1)
            }
        }
    }

    @Test("A busy instance is retried in the window; after 3 busy attempts, or when the window ends, a failed dcs.08.0008 record")
    func busyInstance() async throws {
        try await RedisServer.withServer(extraArguments: DCSBackupTests.redisArguments(diskless: "yes")) { redis in
            let clock = ManualClock(Self.at(1, 50))
            try await TestServer.run(clock: { clock.now }) { server in
                let instanceID = try await Self.adopt(server, clock, redis)
                try await Self.setPolicy(server, clock, instanceID)
                // A manual backup occupies the instance (the worker does not run it yet).
                #expect(try await Self.requestBackup(server, clock, instanceID) == .ok)
                let scheduler = server.parts.operations.dcsBackupScheduler
                let other = Self.otherNode(server, clock: clock)
                clock.set(Self.at(2, 0))
                #expect(try await scheduler.runOnce().busy == 1)
                clock.set(Self.at(2, 5))
                #expect(try await scheduler.runOnce() == .init(), "the next try is 15 minutes later")
                clock.set(Self.at(2, 15))
                #expect(try await other.runOnce().busy == 1, "the second attempt, on the other node")
                #expect(try await scheduler.runOnce() == .init(), "that node took this attempt")
                clock.set(Self.at(2, 30))
                #expect(try await scheduler.runOnce().missed == 1, "the third busy attempt is the last")
                let failed = try #require(try await Self.autoRecords(server, clock, instanceID).first)
                #expect(failed["status"] as? String == "failed")
                #expect(failed["error_code"] as? String == "dcs.08.0008")
                #expect(failed["period"] as? String == "02:00-03:00")
                #expect(failed["is_support_restore"] as? String == "FALSE")
                // Free again, still inside the window: the day is over for automatic backups.
                #expect(try await server.parts.worker.runOnce()?.status == .succeeded)
                clock.set(Self.at(2, 45))
                #expect(try await scheduler.runOnce() == .init())
                clock.set(Self.at(3, 5))
                #expect(try await scheduler.runOnce() == .init())
                #expect(try await Self.autoRecords(server, clock, instanceID).count == 1)

                // Wednesday: busy from 02:50 on; the window ends before a third attempt is due.
                #expect(try await Self.requestBackup(server, clock, instanceID) == .ok)
                clock.set(Self.at(day: 2, 2, 50))
                #expect(try await scheduler.runOnce().busy == 1)
                clock.set(Self.at(day: 2, 3, 1))
                #expect(try await scheduler.runOnce().missed == 1, "the window ended with the instance busy")
                let auto = try await Self.autoRecords(server, clock, instanceID)
                #expect(auto.count == 2)
                #expect(auto.allSatisfy { $0["error_code"] as? String == "dcs.08.0008" })
                #expect(try await other.runOnce() == .init(), "closed once")
            }
        }
    }

    @Test("A policy change wakes the scheduler at once")
    func policyChangeWakes() async throws {
        try await RedisServer.withServer(extraArguments: DCSBackupTests.redisArguments(diskless: "yes")) { redis in
            let clock = ManualClock(Self.at(2, 10))
            try await TestServer.run(clock: { clock.now }) { server in
                let instanceID = try await Self.adopt(server, clock, redis)
                let operations = server.parts.operations
                let running = Task { try await operations.dcsBackupScheduler.run() }
                defer { running.cancel() }
                // Its first check found nothing; it now waits up to a minute (the default interval).
                let parked = ContinuousClock.now.advanced(by: .seconds(10))
                while operations.policyChanged.waiting == 0 && ContinuousClock.now < parked { try await Task.sleep(for: .milliseconds(10)) }
                try #require(operations.policyChanged.waiting == 1)
                #expect(try await Self.autoRecords(server, clock, instanceID).isEmpty)
                try await Self.setPolicy(server, clock, instanceID)
                let deadline = ContinuousClock.now.advanced(by: .seconds(10))
                var records: [[String: Any]] = []
                while records.isEmpty && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(20))
                    records = try await Self.autoRecords(server, clock, instanceID)
                }
                #expect(records.count == 1, "queued well before the next one-minute check")
            }
        }
    }

    @Test("Retention expires old automatic backups and removes their files; keeps the newest succeeded one and every manual one")
    func retention() async throws {
        try await RedisServer.withServer(extraArguments: DCSBackupTests.redisArguments(diskless: "yes")) { redis in
            let clock = ManualClock(Self.at(day: 10, 12))
            try await TestServer.run(clock: { clock.now }) { server in
                let store = server.parts.store
                let first = try await Self.adopt(server, clock, redis, name: "cache-01")
                let second = try await Self.adopt(server, clock, redis, name: "cache-02")
                try await Self.setPolicy(server, clock, first)
                try await Self.setPolicy(server, clock, second)
                let now = clock.now
                func seed(_ instance: String, _ type: DCSBackupRecord.BackupType, ageDays: Double, _ status: DCSBackupRecord.Status) async throws
                    -> DCSBackupRecord
                {
                    let created = now.addingTimeInterval(-ageDays * 86400)
                    var record = DCSBackupRecord(
                        id: Identifiers.uuid(), projectID: server.projectID, instanceID: instance, name: "backup_" + WireTime.compact(created),
                        backupType: type, backupFormat: .rdb, status: status, progress: status == .succeed ? .complete : .zero, size: 0,
                        remark: nil, errorCode: status == .failed ? "dcs.08.0001" : nil, period: type == .auto ? "02:00-03:00" : nil,
                        isSupportRestore: status == .succeed, createdAt: created, updatedAt: created, executionAt: created, blobKey: nil,
                        sha256: nil)
                    if status == .succeed {
                        let writer = try await store.blobs.makeWriter(key: "dcs/\(server.projectID)/\(instance)/\(record.id).rdb")
                        try await writer.write(contentsOf: Array("REDIS0011".utf8))
                        let blob = try await writer.commit()
                        record.blobKey = blob.key
                        record.size = blob.size
                        record.sha256 = blob.sha256
                    }
                    try await store.dcs.insertBackup(record)
                    return record
                }
                // cache-01: an old succeeded and an old failed automatic backup go; a recent one and an old manual one stay.
                let oldAuto = try await seed(first, .auto, ageDays: 5, .succeed)
                let oldFailed = try await seed(first, .auto, ageDays: 3, .failed)
                let recentAuto = try await seed(first, .auto, ageDays: 1, .succeed)
                let oldManual = try await seed(first, .manual, ageDays: 9, .succeed)
                // cache-02: every automatic backup is old; the newest succeeded one stays, the older ones go.
                let oldest = try await seed(second, .auto, ageDays: 9, .succeed)
                let newestSucceeded = try await seed(second, .auto, ageDays: 4, .succeed)
                let newerFailed = try await seed(second, .auto, ageDays: 3, .failed)

                let scheduler = server.parts.operations.dcsBackupScheduler
                #expect(try await scheduler.runOnce().expired == 4)
                while let job = try await server.parts.worker.runOnce() { #expect(job.status == .succeeded) }
                #expect(try await scheduler.runOnce().expired == 0, "expired once")

                func listed(_ record: DCSBackupRecord) async throws -> [String: Any] {
                    try #require(try await Self.records(server, clock, record.instanceID).first { $0["backup_id"] as? String == record.id })
                }
                func status(_ record: DCSBackupRecord) async throws -> String? { try await listed(record)["status"] as? String }
                for gone in [oldAuto, oldFailed, oldest, newerFailed] {
                    #expect(try await status(gone) == "expired", "\(gone.name)")
                    if let key = gone.blobKey { #expect(await !store.blobs.exists(key: key), "file removed") }
                }
                for kept in [recentAuto, oldManual, newestSucceeded] {
                    #expect(try await status(kept) == "succeed", "\(kept.name)")
                    #expect(await store.blobs.exists(key: try #require(kept.blobKey)), "file kept")
                }
                #expect(try await listed(oldAuto)["is_support_restore"] as? String == "FALSE")

                // Weeks later the newest succeeded automatic backup of each instance is still there.
                clock.set(now.addingTimeInterval(30 * 86400))
                #expect(try await scheduler.runOnce().expired == 0)
                #expect(try await status(recentAuto) == "succeed")
                #expect(try await status(newestSucceeded) == "succeed")
            }
        }
    }
}
