import CofferCore
import CofferStorage
import CofferTestSupport
import Foundation
import SQLKit
import Testing

/// `SQLDDMStore` on every database engine: data nodes, instances, schemas (passwords sealed), backups.
@Suite("SQL DDM store", .serialized, .timeLimit(.minutes(1)))
struct DDMStoreTests {
    static let now = WireTime.date(epochMilliseconds: 1_747_000_000_123)

    static func instance(project: String, name: String, at: Date = now) -> DDMInstance {
        DDMInstance(
            id: Identifiers.ddm(suffix: "in09"), projectID: project, name: name, status: "RUNNING", flavorID: "ddm.c6.large.2", nodeNum: 2,
            engineID: "engine-1", availableZones: ["az1", "az2"], vpcID: "vpc", subnetID: "subnet", securityGroupID: "sg", timeZone: "UTC",
            adminUserName: "root", enterpriseProjectID: nil, createdAt: at, updatedAt: at)
    }

    @Test("Data nodes, instances and schemas round trip; schema passwords are sealed", arguments: TestDatabase.available)
    func roundTrip(database: TestDatabase) async throws {
        try await StoreFixtures.withStore(database) { store in
            let project = Identifiers.hex32()
            let node = DataNode(
                id: Identifiers.ddm(suffix: "in01"), projectID: project, name: "dn-1", host: "127.0.0.1", port: 3306, engineName: "mariadb",
                engineVersion: "10.11.19", createdAt: Self.now)
            try await store.ddm.insertDataNode(node)
            #expect(try await store.ddm.dataNode(projectID: project, id: node.id) == node)
            #expect(try await store.ddm.dataNode(projectID: Identifiers.hex32(), id: node.id) == nil)
            #expect(try await store.ddm.dataNodes(projectID: project, offset: 0, limit: 10).total == 1)

            let instance = Self.instance(project: project, name: "ddm-01")
            try await store.ddm.insertInstance(instance)
            #expect(try await store.ddm.instance(projectID: project, id: instance.id) == instance)
            #expect(try await store.ddm.instanceNameExists(projectID: project, name: "ddm-01"))

            let schema = DDMSchema(
                projectID: project, instanceID: instance.id, name: "shop", shardMode: "cluster", shardNumber: 2,
                parts: [DDMSchema.NodePart(nodeID: node.id, adminUser: "admin", adminPassword: "pa55-word!", databases: ["shop_0000", "shop_0001"])],
                createdAt: Self.now)
            try await store.ddm.insertSchema(schema)
            #expect(try await store.ddm.schemas(projectID: project, instanceID: instance.id) == [schema])
            #expect(try await store.ddm.dataNodeInUse(projectID: project, id: node.id))
            let stored = try await store.provider.withDatabase { db in
                try await db.raw("SELECT password_sealed FROM ddm_schema_nodes").first()?.decode(column: "password_sealed", as: String.self)
            }
            #expect(stored?.hasPrefix("v1:") == true)
            #expect(stored?.contains("pa55") == false)

            try await store.ddm.deleteInstance(projectID: project, id: instance.id, at: Self.now)
            #expect(try await store.ddm.instance(projectID: project, id: instance.id) == nil)
            #expect(try await store.ddm.dataNodeInUse(projectID: project, id: node.id) == false)
            try await store.ddm.deleteDataNode(projectID: project, id: node.id)
            #expect(try await store.ddm.dataNode(projectID: project, id: node.id) == nil)
        }
    }

    @Test("Backups: filters, paging newest first, updates", arguments: TestDatabase.available)
    func backups(database: TestDatabase) async throws {
        try await StoreFixtures.withStore(database) { store in
            let project = Identifiers.hex32()
            let a = Self.instance(project: project, name: "ddm-a")
            let b = Self.instance(project: project, name: "ddm-b")
            var all: [DDMBackup] = []
            for i in 0..<15 {
                let instance = i % 3 == 0 ? b : a
                let at = Self.now.addingTimeInterval(Double(i) * 60)
                let backup = DDMBackup(
                    id: Identifiers.ddm(suffix: "br09"), projectID: project, instanceID: instance.id, instanceName: instance.name,
                    name: "Backup-\(instance.name)-\(i)", description: "", backupType: i == 14 ? "auto_metadata" : "metadata",
                    status: i == 1 ? .createfail : .normal, size: Int64(1024 * i),
                    relatedNodes: [.init(id: "n1in01", name: "dn-1")],
                    files: [
                        .init(
                            nodeID: "n1in01", nodeName: "dn-1", blobKey: "ddm/x/n1in01.sql.zst", size: 10, sha256: "ab", databases: ["s_0000"],
                            binlogFile: "binlog.000001", binlogPosition: 42, gtidPosition: "0-1-7")
                    ], metadataKey: "ddm/x/metadata.json", metadataSHA256: "cd", error: nil, createdAt: at, updatedAt: at)
                try await store.ddm.insertBackup(backup)
                all.append(backup)
            }
            let page = try await store.ddm.backups(DDMBackupQuery(projectID: project, offset: 0, limit: 10))
            #expect(page.total == 15)
            #expect(page.items.map(\.id) == all.reversed().prefix(10).map(\.id))
            #expect(page.items.first == all.last)
            #expect(try await store.ddm.backups(DDMBackupQuery(projectID: project, instanceID: b.id, limit: 128)).total == 5)
            #expect(try await store.ddm.backups(DDMBackupQuery(projectID: project, instanceName: "ddm-a", limit: 128)).total == 10)
            #expect(try await store.ddm.backups(DDMBackupQuery(projectID: project, backupName: "Backup-ddm-a-1", limit: 128)).total == 1)
            #expect(try await store.ddm.backups(DDMBackupQuery(projectID: project, status: .createfail, limit: 128)).total == 1)
            #expect(try await store.ddm.backups(DDMBackupQuery(projectID: Identifiers.hex32(), limit: 128)).total == 0)
            let before = try await store.ddm.backups(
                DDMBackupQuery(projectID: project, createdBefore: Self.now.addingTimeInterval(60 * 4), limit: 128))
            #expect(before.total == 5)
            #expect(try await store.ddm.latestBackup(projectID: project, instanceID: a.id, backupType: "auto_metadata") == all[14])

            var changed = all[2]
            changed.status = .deleted
            changed.files = []
            changed.updatedAt = Self.now.addingTimeInterval(3600)
            try await store.ddm.updateBackup(changed)
            #expect(try await store.ddm.backup(projectID: project, id: changed.id) == changed)
        }
    }

    @Test("enqueueIfIdle: of racing requests on one resource exactly one is queued", arguments: TestDatabase.available)
    func oneTaskPerInstance(database: TestDatabase) async throws {
        try await StoreFixtures.withStore(database) { store in
            let project = Identifiers.hex32()
            let resource = Identifiers.ddm(suffix: "in09")
            let accepted = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<10 {
                    group.addTask {
                        try await store.jobs.enqueueIfIdle(Job.new(kind: "ddm.backup", projectID: project, resourceID: resource, now: Self.now))
                            == .enqueued
                    }
                }
                var count = 0
                for try await ok in group where ok { count += 1 }
                return count
            }
            #expect(accepted == 1)
            // The refused ones learn which job holds the resource: the one that was queued.
            let holder = try #require(try await store.jobs.activeJob(projectID: project, resourceID: resource))
            #expect(try await store.jobs.enqueueIfIdle(Job.new(kind: "ddm.backup", projectID: project, resourceID: resource, now: Self.now)) == .busy(holder))
            #expect(try await store.jobs.enqueueIfIdle(Job.new(kind: "ddm.backup", projectID: project, resourceID: "other", now: Self.now)) == .enqueued)
        }
    }
}
