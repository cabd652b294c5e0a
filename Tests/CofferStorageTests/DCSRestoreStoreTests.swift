import CofferCore
import CofferStorage
import CofferTestSupport
import Foundation
import Testing

/// Restore records and migration tasks (migration 0007) on every engine: typed round trip, the one-task-per-instance
/// insert, narrow writes, the list window and `total_num`, and task deletion.
@Suite("DCS restore store", .serialized)
struct DCSRestoreStoreTests {
    static let base = Date(timeIntervalSince1970: 1_715_000_000)

    static func restore(
        _ backup: DCSBackupRecord, into target: DCSInstance, at date: Date, task: DCSRestoreRecord.MigrationTask? = nil
    ) -> DCSRestoreRecord {
        DCSRestoreRecord.new(backup: backup, target: target, remark: "undo", migrationTask: task, now: date)
    }

    static func job(_ record: DCSRestoreRecord, at date: Date) -> Job {
        Job.new(kind: JobKind.dcsRestore.rawValue, projectID: record.projectID, resourceID: record.instanceID, maxAttempts: 3, now: date)
    }

    @Test("Round trip with typed values; insert is refused while a task occupies the instance", .timeLimit(.minutes(1)), arguments: TestDatabase.available)
    func roundTrip(database: TestDatabase) async throws {
        try await StoreFixtures.withStore(database) { store in
            let instance = StoreFixtures.instance(project: "P1", name: "cache-01")
            try await store.dcs.insertInstance(instance)
            var backup = StoreFixtures.backup(project: "P1", instance: instance.id, createdAt: Self.base)
            backup.remark = "nightly"
            try await store.dcs.insertBackup(backup)
            #expect(try await store.dcs.backup(projectID: "P1", id: backup.id)?.id == backup.id)
            #expect(try await store.dcs.backup(projectID: "P2", id: backup.id) == nil)

            let record = Self.restore(backup, into: instance, at: Self.base.addingTimeInterval(60))
            #expect(record.name == "restore_20240506125420000")
            #expect(try await store.dcs.insertRestore(record, job: Self.job(record, at: record.createdAt)) == .enqueued)
            let read = try #require(try await store.dcs.restore(projectID: "P1", id: record.id))
            #expect(read == record)
            #expect(read.backupName == backup.name && read.backupRemark == "nightly" && read.backupInstanceID == instance.id)
            #expect(try await store.dcs.restore(projectID: "P2", id: record.id) == nil)

            // A second restore (or a backup) while the first job is active inserts nothing.
            let second = Self.restore(backup, into: instance, at: Self.base.addingTimeInterval(61))
            guard case .busy(let occupant) = try await store.dcs.insertRestore(second, job: Self.job(second, at: second.createdAt)) else {
                Issue.record("expected busy")
                return
            }
            #expect(occupant.activity == .restore)
            #expect(try await store.dcs.restore(projectID: "P1", id: second.id) == nil)

            // Progress only while restoring; checkpoint and final state through the full update.
            try await store.dcs.updateRestoreProgress(projectID: "P1", id: record.id, progress: .init(hundredths: 4210), at: Self.base)
            #expect(try await store.dcs.restore(projectID: "P1", id: record.id)?.progress == .zero)
            var running = read
            running.status = .restoring
            try await store.dcs.updateRestore(running)
            try await store.dcs.updateRestoreProgress(projectID: "P1", id: record.id, progress: .init(hundredths: 4210), at: Self.base)
            try await store.dcs.saveRestoreCheckpoint(projectID: "P1", id: record.id, checkpoint: #"{"phase":"writing"}"#, at: Self.base)
            let saved = try #require(try await store.dcs.restore(projectID: "P1", id: record.id))
            #expect(saved.progress.hundredths == 4210 && saved.checkpoint == #"{"phase":"writing"}"# && saved.status == .restoring)
            var failed = saved
            failed.status = .failed
            failed.errorCode = .synchronization
            failed.checkpoint = nil
            try await store.dcs.updateRestore(failed)
            try await store.dcs.updateRestoreProgress(projectID: "P1", id: record.id, progress: .init(hundredths: 5000), at: Self.base)
            let final = try #require(try await store.dcs.restore(projectID: "P1", id: record.id))
            #expect(final.status == .failed && final.errorCode == .synchronization && final.checkpoint == nil && final.progress.hundredths == 4210)
        }
    }

    @Test("The list: newest first, time window, paging, exact total; migration tasks apart", .timeLimit(.minutes(1)), arguments: TestDatabase.available)
    func list(database: TestDatabase) async throws {
        try await StoreFixtures.withStore(database) { store in
            let instance = StoreFixtures.instance(project: "P1", name: "cache-01")
            let other = StoreFixtures.instance(project: "P1", name: "cache-02")
            try await store.dcs.insertInstance(instance)
            try await store.dcs.insertInstance(other)
            let backup = StoreFixtures.backup(project: "P1", instance: instance.id, createdAt: Self.base)
            try await store.dcs.insertBackup(backup)
            var ids: [String] = []
            for minute in 0..<12 {
                let at = Self.base.addingTimeInterval(Double(minute) * 3600)
                let record = Self.restore(backup, into: instance, at: at)
                // One active job per instance: each record's job gets its own resource id so that many can be listed.
                var job = Self.job(record, at: at)
                job.resourceID = record.id
                #expect(try await store.dcs.insertRestore(record, job: job) == .enqueued)
                ids.append(record.id)
            }
            let task = Self.restore(backup, into: instance, at: Self.base.addingTimeInterval(5), task: .init(name: "Copy-Staging", description: "d"))
            var taskJob = Self.job(task, at: task.createdAt)
            taskJob.resourceID = task.id
            #expect(try await store.dcs.insertRestore(task, job: taskJob) == .enqueued)

            let all = try await store.dcs.restores(DCSRestoreQuery(projectID: "P1", instanceID: instance.id, begin: nil, end: nil, offset: 0, limit: 1000))
            #expect(all.total == 12)
            #expect(all.items.map(\.id) == ids.reversed())
            let page = try await store.dcs.restores(DCSRestoreQuery(projectID: "P1", instanceID: instance.id, begin: nil, end: nil, offset: 10, limit: 5))
            #expect(page.total == 12 && page.items.map(\.id) == [ids[1], ids[0]])
            let past = try await store.dcs.restores(DCSRestoreQuery(projectID: "P1", instanceID: instance.id, begin: nil, end: nil, offset: 50, limit: 5))
            #expect(past.total == 12 && past.items.isEmpty)
            let window = try await store.dcs.restores(
                DCSRestoreQuery(
                    projectID: "P1", instanceID: instance.id, begin: Self.base.addingTimeInterval(2 * 3600),
                    end: Self.base.addingTimeInterval(4 * 3600), offset: 0, limit: 10))
            #expect(window.total == 3 && window.items.map(\.id) == [ids[4], ids[3], ids[2]])
            #expect(try await store.dcs.restores(DCSRestoreQuery(projectID: "P1", instanceID: other.id, begin: nil, end: nil, offset: 0, limit: 10)).total == 0)
            #expect(try await store.dcs.restores(DCSRestoreQuery(projectID: "P2", instanceID: instance.id, begin: nil, end: nil, offset: 0, limit: 10)).total == 0)

            let tasks = try await store.dcs.migrationTasks(projectID: "P1", name: nil, offset: 0, limit: 10)
            #expect(tasks.total == 1 && tasks.items.first?.migrationTask == .init(name: "Copy-Staging", description: "d"))
            #expect(try await store.dcs.migrationTasks(projectID: "P1", name: "copy-st", offset: 0, limit: 10).total == 1)
            #expect(try await store.dcs.migrationTasks(projectID: "P1", name: "nope", offset: 0, limit: 10).total == 0)
            #expect(try await store.dcs.migrationTasks(projectID: "P2", name: nil, offset: 0, limit: 10).total == 0)

            // Deleting: a running task stays, a finished one goes, a plain restore is never a task.
            #expect(try await store.dcs.deleteMigrationTasks(projectID: "P1", ids: [task.id, ids[0]]) == [])
            var done = task
            done.status = .succeed
            try await store.dcs.updateRestore(done)
            var restoreDone = try #require(all.items.last)
            restoreDone.status = .succeed
            try await store.dcs.updateRestore(restoreDone)
            #expect(try await store.dcs.deleteMigrationTasks(projectID: "P2", ids: [task.id]) == [])
            #expect(try await store.dcs.deleteMigrationTasks(projectID: "P1", ids: [task.id, ids[0]]) == [task.id])
            #expect(try await store.dcs.restore(projectID: "P1", id: task.id) == nil)
            #expect(try await store.dcs.restore(projectID: "P1", id: ids[0]) != nil)
        }
    }
}
