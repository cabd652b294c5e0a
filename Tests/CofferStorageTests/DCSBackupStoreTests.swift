import CofferCore
import CofferStorage
import CofferTestSupport
import Foundation
import Logging
import SQLKit
import Testing

/// Typed backup storage, migration 0006 and the day-count path of the backup list, on every engine.
@Suite("DCS backup store", .serialized)
struct DCSBackupStoreTests {
    static let day: Int64 = 86_400_000
    static let hour: Int64 = 3_600_000

    @Test("0006 converts old-format rows to typed columns and counts them", .timeLimit(.minutes(1)), arguments: TestDatabase.available)
    func migratesOldRows(database: TestDatabase) async throws {
        try await database.withFreshURL { url in
            let logger = TestDatabase.logger
            let provider = try await DatabaseURL.open(url, logger: logger)
            try await withRunning(provider) { try await Self.migrateOldRows(provider: provider, logger: logger) }
        }
    }

    private static func migrateOldRows(provider: any DatabaseProvider, logger: Logger) async throws {
        // The schema as it was before 0006, with rows in the old wire-string form.
        // Only the migrations before 0006: later ones (0140 adds a column) build on the table 0006 rebuilds.
        let before = Array(Migrations.all.prefix { $0.id != "0006_dcs_typed_backups" })
        try await Migrations.apply(on: provider, logger: logger, migrations: before)
        let base: Int64 = 1_715_000_000_000
        let old: [(id: String, instance: String, type: String, status: String, progress: String, restore: String, at: Int64)] = [
            ("b1", "I1", "manual", "succeed", "100.00", "TRUE", base),
            ("b2", "I1", "auto", "backuping", "42.10", "FALSE", base + Self.day),
            ("b3", "I1", "auto", "failed", "0.00", "FALSE", base + 3 * Self.day),
            ("b4", "I1", "manual", "deleted", "99.99", "FALSE", base + 3 * Self.day + 1),
            ("b5", "I2", "manual", "succeed", "7.05", "TRUE", base),
        ]
        try await provider.withDatabase { db in
            for row in old {
                try await db.raw(
                    """
                    INSERT INTO dcs_backups (id, project_id, instance_id, name, backup_type, backup_format, status, progress, size,
                      remark, error_code, period, is_support_restore, created_at, updated_at, execution_at, blob_key, sha256)
                    VALUES (\(bind: row.id), 'P1', \(bind: row.instance), 'backup_x', \(bind: row.type), 'rdb', \(bind: row.status),
                      \(bind: row.progress), 880232, \(bind: row.id == "b1" ? "a remark" : nil as String?), NULL,
                      \(bind: row.type == "auto" ? "02:00-03:00" : nil as String?), \(bind: row.restore), \(bind: row.at),
                      \(bind: row.at + 5), \(bind: row.at), \(bind: "dcs/\(row.id).rdb"), NULL)
                    """
                ).run()
            }
        }

        #expect(try await Migrations.apply(on: provider, logger: logger).first == "0006_dcs_typed_backups")
        try await provider.withDatabase { db in
            try await db.raw(
                """
                INSERT INTO dcs_instances (id, project_id, name, engine, host, port, status, capacity_gb, extra, created_at, updated_at)
                VALUES ('I1', 'P1', 'cache', 'Redis', '127.0.0.1', 6379, 'RUNNING', 0.125, '{}', \(bind: base), \(bind: base))
                """
            ).run()
        }

        let directory = try TemporaryDirectory(prefix: "coffer-store")
        defer { directory.remove() }
        let store = try CofferStore(dataDirectory: directory.path, provider: provider, masterKey: .random())
        let b2 = try #require(try await store.dcs.backup(projectID: "P1", instanceID: "I1", id: "b2"))
        #expect(b2.progress == DCSBackupRecord.Progress(hundredths: 4210))
        #expect(b2.isSupportRestore == false)
        #expect(b2.backupType == .auto)
        #expect(b2.backupFormat == .rdb)
        #expect(b2.status == .backuping)
        #expect(b2.period == "02:00-03:00")
        #expect(b2.createdAt == WireTime.date(epochMilliseconds: base + Self.day))
        let b1 = try #require(try await store.dcs.backup(projectID: "P1", instanceID: "I1", id: "b1"))
        #expect(b1.progress == .complete && b1.isSupportRestore && b1.backupType == .manual && b1.remark == "a remark")
        #expect(try await store.dcs.backup(projectID: "P1", instanceID: "I2", id: "b5")?.progress.hundredths == 705)
        #expect(try await store.dcs.backup(projectID: "P1", instanceID: "I1", id: "b4")?.progress.hundredths == 9999)

        // Every row survived, typed in the database too, and the day counts were backfilled.
        let raw = try await provider.withDatabase { db in
            try await db.raw("SELECT id, progress, is_support_restore FROM dcs_backups ORDER BY id").all().map {
                "\(try $0.decode(column: "id", as: String.self)):\(try $0.decode(column: "progress", as: Int.self)):\(try $0.decode(column: "is_support_restore", as: Int.self))"
            }
        }
        #expect(raw == ["b1:10000:1", "b2:4210:0", "b3:0:0", "b4:9999:0", "b5:705:1"])
        let all = try await store.dcs.backups(DCSBackupQuery(projectID: "P1", instanceID: "I1", begin: nil, end: nil, offset: 0, limit: 10))
        #expect(all?.total == 4)
        #expect(all?.items.map(\.id) == ["b4", "b3", "b2", "b1"])
        let window = try await store.dcs.backups(
            DCSBackupQuery(
                projectID: "P1", instanceID: "I1", begin: WireTime.date(epochMilliseconds: base + 1),
                end: WireTime.date(epochMilliseconds: base + 5 * Self.day), offset: 0, limit: 10))
        #expect(window?.total == 3)
        // Three hours up to b3 (b4 is a millisecond later): whole hours and partial ones, so the hour counts were
        // backfilled too.
        let hours = try await store.dcs.backups(
            DCSBackupQuery(
                projectID: "P1", instanceID: "I1", begin: WireTime.date(epochMilliseconds: base + 3 * Self.day - 3 * Self.hour),
                end: WireTime.date(epochMilliseconds: base + 3 * Self.day), offset: 0, limit: 10))
        #expect(hours?.total == 1)

        // A new record after the migration joins the backfilled counts.
        try await store.dcs.insertBackup(
            StoreFixtures.backup(project: "P1", instance: "I1", createdAt: WireTime.date(epochMilliseconds: base + Self.day + 7)))
        #expect(try await store.dcs.backups(DCSBackupQuery(projectID: "P1", instanceID: "I1", begin: nil, end: nil, offset: 0, limit: 1))?.total == 5)
    }

    @Test("Typed fields round-trip; updates keep creation fields; progress writes hundredths", arguments: TestDatabase.available)
    func typedRoundTrip(database: TestDatabase) async throws {
        try await StoreFixtures.withStore(database) { store in
            let at = WireTime.date(epochMilliseconds: 1_715_000_000_123)
            var record = StoreFixtures.backup(project: "P1", instance: "I1", createdAt: at, status: .waiting)
            record.backupType = .auto
            record.period = "02:00-03:00"
            record.progress = .zero
            record.isSupportRestore = false
            record.executionAt = nil
            try await store.dcs.insertBackup(record)
            #expect(try await store.dcs.backup(projectID: "P1", instanceID: "I1", id: record.id) == record)

            record.status = .backuping
            try await store.dcs.updateBackup(record)
            try await store.dcs.updateBackupProgress(projectID: "P1", id: record.id, progress: .init(fraction: 0.421), at: at)
            #expect(try await store.dcs.backup(projectID: "P1", instanceID: "I1", id: record.id)?.progress.hundredths == 4210)

            var done = record
            done.status = .succeed
            done.progress = .complete
            done.isSupportRestore = true
            done.blobKey = "dcs/x.rdb"
            done.executionAt = at
            done.updatedAt = at.addingTimeInterval(3)
            // Creation fields are not rewritten by an update (the day counts depend on it).
            var moved = done
            moved.createdAt = at.addingTimeInterval(-10 * 86_400)
            moved.name = "renamed"
            try await store.dcs.updateBackup(moved)
            #expect(try await store.dcs.backup(projectID: "P1", instanceID: "I1", id: record.id) == done)

            // A progress write never overwrites a final state.
            try await store.dcs.updateBackupProgress(projectID: "P1", id: record.id, progress: .init(hundredths: 5), at: at)
            #expect(try await store.dcs.backup(projectID: "P1", instanceID: "I1", id: record.id)?.progress == .complete)
        }
    }

    @Test("Topologies and shard files round-trip; deleting the instance returns every shard's file", arguments: TestDatabase.available)
    func shardsRoundTrip(database: TestDatabase) async throws {
        try await StoreFixtures.withStore(database) { store in
            let at = WireTime.date(epochMilliseconds: 1_715_000_000_123)
            var instance = StoreFixtures.instance(project: "P1", name: "cluster")
            let node = { (port: Int, role: DCSTopology.Role) in DCSTopology.Node(host: "127.0.0.1", port: port, role: role, healthy: true, reachable: true) }
            instance.topology = DCSTopology(
                kind: .cluster,
                shards: [
                    .init(slots: [.init(start: 0, end: 8191)], master: node(7001, .master), replicas: [node(7003, .replica)]),
                    .init(slots: [.init(start: 8192, end: 16383)], master: node(7002, .master), replicas: []),
                ], readAt: at)
            try await store.dcs.insertInstance(instance)
            #expect(try await store.dcs.instance(projectID: "P1", id: instance.id)?.topology == instance.topology)
            var moved = try #require(instance.topology)
            moved.shards[1].replicas = [node(7004, .replica)]
            try await store.dcs.updateInstanceTopology(projectID: "P1", id: instance.id, topology: moved)
            #expect(try await store.dcs.instance(projectID: "P1", id: instance.id)?.topology == moved)

            var record = StoreFixtures.backup(project: "P1", instance: instance.id, createdAt: at)
            record.blobKey = nil
            record.shards = (0..<2).map {
                DCSBackupShard(
                    index: $0, slots: moved.shards[$0].slots, masterHost: "127.0.0.1", masterPort: 7001 + $0, sourceHost: "127.0.0.1",
                    sourcePort: 7003 + $0, sourceRole: .replica, retried: $0 == 1, blobKey: "dcs/P1/\(instance.id)/b.shard-\($0).rdb",
                    size: 100, sha256: String(repeating: "a", count: 64), keys: 7)
            }
            try await store.dcs.insertBackup(record)
            #expect(try await store.dcs.backup(projectID: "P1", instanceID: instance.id, id: record.id) == record)
            var single = StoreFixtures.backup(project: "P1", instance: instance.id, createdAt: at)
            single.blobKey = "dcs/P1/single.rdb"
            try await store.dcs.insertBackup(single)
            let keys = try await store.dcs.deleteInstance(projectID: "P1", id: instance.id, at: at)
            #expect(Set(keys) == Set((record.shards ?? []).map(\.blobKey) + [single.blobKey].compactMap { $0 }))
        }
    }

    @Test("Progress from a fraction: rounded to hundredths, clamped, NaN is zero")
    func progressFromFraction() {
        #expect(DCSBackupRecord.Progress(fraction: 0.42104).hundredths == 4210)
        #expect(DCSBackupRecord.Progress(fraction: 0.99996).hundredths == 10_000)
        #expect(DCSBackupRecord.Progress(fraction: 1.5) == .complete)
        #expect(DCSBackupRecord.Progress(fraction: -1) == .zero)
        #expect(DCSBackupRecord.Progress(fraction: .nan) == .zero)
        #expect(DCSBackupRecord.Progress(hundredths: 20_000) == .complete)
    }

    @Test("total_num over random windows equals a brute-force count", .timeLimit(.minutes(2)), arguments: TestDatabase.available)
    func countMatchesBruteForce(database: TestDatabase) async throws {
        try await StoreFixtures.withStore(database) { store in
            var rng = SplitMix64(seed: 20_261_129)
            try await store.dcs.insertInstance(StoreFixtures.instance(project: "P1", name: "cache", id: "I1"))
            let firstDay: Int64 = 19_800  // 2024-03-19, UTC
            let days: Int64 = 12
            // Times: random within the span, plus each day's first and last millisecond (the bucket edges).
            var stamps: [Int64] = (0..<150).map { _ in firstDay * Self.day + Int64(rng.next() % UInt64(days * Self.day)) }
            for d in firstDay..<(firstDay + days) where d % 3 == 0 { stamps += [d * Self.day, d * Self.day + Self.day - 1] }
            // …and some hours' first and last millisecond.
            for _ in 0..<30 {
                let hour = firstDay * 24 + Int64(rng.next() % UInt64(days * 24))
                stamps += [hour * Self.hour, hour * Self.hour + Self.hour - 1]
            }
            var mine: [Int64] = []
            for (index, stamp) in stamps.enumerated() {
                let (project, instance) = index % 7 == 0 ? ("P2", "I1") : index % 5 == 0 ? ("P1", "I2") : ("P1", "I1")
                var record = StoreFixtures.backup(project: project, instance: instance, createdAt: WireTime.date(epochMilliseconds: stamp))
                record.status = index % 4 == 0 ? .deleted : .succeed  // deleted records are listed, and counted
                try await store.dcs.insertBackup(record)
                if project == "P1" && instance == "I1" { mine.append(WireTime.epochMilliseconds(record.createdAt)) }
            }
            // A refused insert (the instance is busy) leaves the counts alone.
            let busyAt = WireTime.date(epochMilliseconds: (firstDay + 2) * Self.day + 1)
            let first = StoreFixtures.backup(project: "P1", instance: "I1", createdAt: busyAt)
            #expect(try await store.dcs.insertBackup(first, job: .new(kind: "dcs.backup", projectID: "P1", resourceID: "I1", now: busyAt)) == .enqueued)
            mine.append(WireTime.epochMilliseconds(busyAt))
            let second = StoreFixtures.backup(project: "P1", instance: "I1", createdAt: busyAt)
            #expect(try await store.dcs.insertBackup(second, job: .new(kind: "dcs.backup", projectID: "P1", resourceID: "I1", now: busyAt)) != .enqueued)

            func candidate() -> Int64? {
                switch rng.next() % 8 {
                case 0: nil
                case 1: (firstDay + Int64(rng.next() % UInt64(days))) * Self.day  // a day's first millisecond
                case 2: (firstDay + Int64(rng.next() % UInt64(days))) * Self.day - 1  // the previous day's last
                case 3: stamps[Int(rng.next() % UInt64(stamps.count))]  // exactly a record's time
                case 4: (firstDay * 24 + Int64(rng.next() % UInt64(days * 24))) * Self.hour  // an hour's first millisecond
                case 5: (firstDay * 24 + Int64(rng.next() % UInt64(days * 24))) * Self.hour - 1  // the previous hour's last
                default: (firstDay - 1) * Self.day + Int64(rng.next() % UInt64((days + 2) * Self.day))
                }
            }
            for _ in 0..<200 {
                let begin = candidate().map { WireTime.date(epochMilliseconds: $0) }, end = candidate().map { WireTime.date(epochMilliseconds: $0) }
                // The bounds as the store sees them (the same Date → milliseconds conversion as the records).
                let low = begin.map(WireTime.epochMilliseconds) ?? .min, high = end.map(WireTime.epochMilliseconds) ?? .max
                let expected = mine.filter { $0 >= low && $0 <= high }.count
                let page = try await store.dcs.backups(
                    DCSBackupQuery(projectID: "P1", instanceID: "I1", begin: begin, end: end, offset: 0, limit: 3))
                #expect(page?.total == expected, "window \(String(describing: begin))…\(String(describing: end))")
                #expect(page?.items.count == min(3, expected))
                // Past the last page the count still comes (no row carries it there).
                let beyond = try await store.dcs.backups(
                    DCSBackupQuery(projectID: "P1", instanceID: "I1", begin: begin, end: end, offset: expected, limit: 3))
                #expect(beyond?.total == expected && beyond?.items.isEmpty == true)
            }
        }
    }
}

/// A small seeded generator: the same windows on every run, so a failure reproduces.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
