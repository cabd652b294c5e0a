import CofferCore
import CofferStorage
import CofferTestSupport
import Foundation
import SQLKit
import Testing

/// The reads behind `/metrics` (`SQLBackupMetricsStore`) on every engine: newest successful backup per live
/// instance (DCS and DDM), the queue by kind and status, and a finished job's bytes and error code.
@Suite("Backup metrics store", .serialized)
struct BackupMetricsStoreTests {
    static let base = Date(timeIntervalSince1970: 1_715_000_000)

    @Test("Newest successful backup per live instance; failed backups and deleted instances do not count", .timeLimit(.minutes(1)),
        arguments: TestDatabase.available)
    func freshness(database: TestDatabase) async throws {
        try await StoreFixtures.withStore(database) { store in
            let metrics = SQLBackupMetricsStore(provider: store.provider)
            let backedUp = StoreFixtures.instance(project: "P1", name: "cache-01", createdAt: Self.base)
            let never = StoreFixtures.instance(project: "P1", name: "cache-02", createdAt: Self.base.addingTimeInterval(5))
            let gone = StoreFixtures.instance(project: "P2", name: "cache-03", createdAt: Self.base)
            for instance in [backedUp, never, gone] { try await store.dcs.insertInstance(instance) }
            for (offset, status) in [(100.0, DCSBackupRecord.Status.succeed), (200, .succeed), (300, .failed), (400, .backuping)] {
                try await store.dcs.insertBackup(
                    StoreFixtures.backup(project: "P1", instance: backedUp.id, createdAt: Self.base.addingTimeInterval(offset), status: status))
            }
            // Another project's backup of an instance with the same id must not count for this one.
            try await store.dcs.insertBackup(StoreFixtures.backup(project: "P9", instance: never.id, createdAt: Self.base.addingTimeInterval(900)))
            try await store.dcs.insertBackup(StoreFixtures.backup(project: "P2", instance: gone.id, createdAt: Self.base.addingTimeInterval(50)))
            try await store.provider.withDatabase { db in
                try await db.raw("UPDATE dcs_instances SET deleted_at = \(bind: Int64(1)) WHERE id = \(bind: gone.id)").run()
                // A DDM instance with a backup whose consistent point is earlier than its row, and a failed one later.
                try await db.raw(
                    """
                    INSERT INTO ddm_instances (id, project_id, name, status, flavor_id, node_num, engine_id, available_zones, vpc_id,
                      subnet_id, security_group_id, time_zone, created_at, updated_at)
                    VALUES ('ddm-1', 'P1', 'ddm', 'RUNNING', 'f', 1, 'e', 'az1', 'v', 's', 'g', 'UTC', \(bind: Int64(1_715_000_000_000)),
                      \(bind: Int64(1_715_000_000_000)))
                    """
                ).run()
                for (id, status, created, cut) in [("b1", "normal", Int64(1_715_000_600_000), Int64?(1_715_000_590_000)), ("b2", "createfail", 1_715_000_900_000, nil)] {
                    try await db.raw(
                        """
                        INSERT INTO ddm_backups (id, project_id, instance_id, instance_name, name, description, backup_type, status, size,
                          related_nodes, files, created_at, updated_at, cut_at)
                        VALUES (\(bind: id), 'P1', 'ddm-1', 'ddm', \(bind: id), '', 'metadata', \(bind: status), 10, '[]', '[]',
                          \(bind: created), \(bind: created), \(bind: cut))
                        """
                    ).run()
                }
            }
            let found = try await metrics.backupFreshness()
            let byID = Dictionary(uniqueKeysWithValues: found.map { ($0.instanceID, $0) })
            #expect(found.count == 3)
            #expect(byID[backedUp.id] == BackupFreshness(service: .dcs, instanceID: backedUp.id, instanceCreatedAt: Self.base,
                newestSuccessAt: Self.base.addingTimeInterval(200)))
            #expect(byID[never.id]?.newestSuccessAt == nil)
            #expect(byID[never.id]?.instanceCreatedAt == Self.base.addingTimeInterval(5))
            #expect(byID[gone.id] == nil)
            #expect(byID["ddm-1"] == BackupFreshness(service: .ddm, instanceID: "ddm-1", instanceCreatedAt: Self.base,
                newestSuccessAt: Date(timeIntervalSince1970: 1_715_000_590)))
        }
    }

    @Test("Queue depth by kind and status; finished jobs are not counted", .timeLimit(.minutes(1)), arguments: TestDatabase.available)
    func queueDepth(database: TestDatabase) async throws {
        try await StoreFixtures.withStore(database) { store in
            let metrics = SQLBackupMetricsStore(provider: store.provider)
            for resource in ["i1", "i2", "i3"] {
                try await store.jobs.enqueue(Job.new(kind: JobKind.dcsBackup.rawValue, projectID: "P1", resourceID: resource, now: Self.base))
            }
            try await store.jobs.enqueue(Job.new(kind: JobKind.ddmBackup.rawValue, projectID: "P1", resourceID: "d1", now: Self.base))
            let claimed = try #require(
                try await store.jobs.claim(kinds: [JobKind.dcsBackup.rawValue], owner: "n1", now: Self.base, leaseUntil: Self.base.addingTimeInterval(30)))
            let finished = try #require(
                try await store.jobs.claim(kinds: [JobKind.dcsBackup.rawValue], owner: "n1", now: Self.base, leaseUntil: Self.base.addingTimeInterval(30)))
            #expect(try await store.jobs.finish(jobID: finished.id, owner: "n1", status: .succeeded, error: nil, now: Self.base))
            #expect(claimed.id != finished.id)
            let depth = Set(try await metrics.jobQueueDepth().map { "\($0.kind) \($0.status.rawValue) \($0.count)" })
            #expect(depth == ["dcs.backup queued 1", "dcs.backup running 1", "ddm.backup queued 1"])
        }
    }

    @Test("A job's outcome: the backup's size and error code; a restore's bytes are its backup's size", .timeLimit(.minutes(1)),
        arguments: TestDatabase.available)
    func outcome(database: TestDatabase) async throws {
        try await StoreFixtures.withStore(database) { store in
            let metrics = SQLBackupMetricsStore(provider: store.provider)
            let instance = StoreFixtures.instance(project: "P1", name: "cache-01")
            try await store.dcs.insertInstance(instance)
            let good = StoreFixtures.backup(project: "P1", instance: instance.id, createdAt: Self.base)
            var bad = StoreFixtures.backup(project: "P1", instance: instance.id, createdAt: Self.base.addingTimeInterval(1), status: .failed)
            bad.errorCode = "dcs.08.0001"
            bad.size = 0
            try await store.dcs.insertBackup(good)
            try await store.dcs.insertBackup(bad)
            func job(_ kind: JobKind, _ payload: String) -> Job {
                Job.new(kind: kind.rawValue, projectID: "P1", resourceID: instance.id, payload: payload, now: Self.base)
            }
            #expect(try await metrics.outcome(of: job(.dcsBackup, #"{"backup_id":"\#(good.id)"}"#)) == JobOutcome(bytes: 880_232, errorCode: nil))
            #expect(try await metrics.outcome(of: job(.dcsBackup, #"{"backup_id":"\#(bad.id)"}"#)) == JobOutcome(bytes: 0, errorCode: "dcs.08.0001"))
            let restore = DCSRestoreRecord.new(backup: good, target: instance, remark: nil, now: Self.base)
            #expect(try await store.dcs.insertRestore(restore, job: job(.dcsRestore, "{}")) == .enqueued)
            #expect(try await metrics.outcome(of: job(.dcsRestore, #"{"restore_id":"\#(restore.id)"}"#)) == JobOutcome(bytes: 880_232, errorCode: nil))
            // Unknown ids, unreadable payloads and other kinds answer "nothing known", not an error.
            #expect(try await metrics.outcome(of: job(.dcsBackup, #"{"backup_id":"nope"}"#)) == JobOutcome(bytes: nil, errorCode: nil))
            #expect(try await metrics.outcome(of: job(.dcsBackup, "not json")) == JobOutcome(bytes: nil, errorCode: nil))
            #expect(try await metrics.outcome(of: job(.blobSweep, "{}")) == JobOutcome(bytes: nil, errorCode: nil))
        }
    }
}
