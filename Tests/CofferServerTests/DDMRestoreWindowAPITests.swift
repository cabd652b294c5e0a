import CofferCore
import CofferOperations
import CofferServer
import CofferStorage
import CofferTestSupport
import Foundation
import HTTPTypes
import Testing

/// `GET …/backups/restorable-time-interval` over HTTP on both databases, with backup records and archive segments
/// written through the stores (the archiving itself is proven against `mariadbd` in `BinlogArchiveTests`): the
/// wire shape of `ShowAvalibleTimeResponse`, the windows the records imply, paging, and the DDM error bodies.
@Suite("DDM restorable windows over HTTP", .serialized, .timeLimit(.minutes(1)))
struct DDMRestoreWindowAPITests {
    static let base = Date(timeIntervalSince1970: 1_747_728_000)  // 2025-05-20T08:00:00Z

    static func instance(projectID: String, name: String) -> DDMInstance {
        DDMInstance(
            id: Identifiers.ddm(suffix: "in09"), projectID: projectID, name: name, status: "RUNNING", flavorID: "f", nodeNum: 1, engineID: "e",
            availableZones: ["az1"], vpcID: "v", subnetID: "s", securityGroupID: "g", timeZone: "UTC", adminUserName: nil,
            enterpriseProjectID: nil, createdAt: Self.base, updatedAt: Self.base)
    }

    /// A `normal` backup of `instance` cut at `base + at` seconds, one file per node at the given coordinates.
    static func backup(_ instance: DDMInstance, at: Double, nodes: [(String, String, UInt64)], status: DDMBackup.Status = .normal) -> DDMBackup {
        let cut = Self.base.addingTimeInterval(at)
        return DDMBackup(
            id: Identifiers.ddm(suffix: "br09"), projectID: instance.projectID, instanceID: instance.id, instanceName: instance.name,
            name: "b-\(Int(at))", description: "", backupType: "metadata", status: status, size: 1,
            relatedNodes: nodes.map { .init(id: $0.0, name: $0.0) },
            files: nodes.map {
                .init(
                    nodeID: $0.0, nodeName: $0.0, blobKey: "ddm/x/\($0.0).sql.zst", size: 1, sha256: "", databases: ["shop_0000"],
                    binlogFile: $0.1, binlogPosition: $0.2, gtidPosition: "")
            }, metadataKey: nil, metadataSHA256: nil, error: nil, createdAt: cut, updatedAt: cut)
    }

    static func segment(_ node: String, _ sequence: Int64, _ file: String, _ start: UInt64, _ end: UInt64, last: Double) -> BinlogSegment {
        BinlogSegment(
            nodeID: node, sequence: sequence, file: file, startPosition: start, endPosition: end, blobKey: "binlog/\(node)/\(sequence)", size: 1,
            sha256: "", firstEventAt: Self.base, lastEventAt: Self.base.addingTimeInterval(last), lastGTID: nil, closesFile: false,
            createdAt: Self.base)
    }

    static func intervals(_ reply: TestServer.Reply) -> [[String]] {
        ((reply.json["restorable_time_intervals"] as? [[String: Any]]) ?? []).map { [$0["start_time"] as? String ?? "?", $0["end_time"] as? String ?? "?"] }
    }

    @Test("Windows from backups and archive; backup-only and empty instances; paging; unknown and foreign instances", arguments: TestDatabase.available)
    func windows(database: TestDatabase) async throws {
        try await TestServer.run(database: database) { server in
            let p = server.projectID
            let ddm = server.parts.store.ddm
            let archive = server.parts.store.binlogs

            // No backup yet: 200 with no window.
            let empty = Self.instance(projectID: p, name: "ddm-empty")
            try await ddm.insertInstance(empty)
            let none = try await server.signed(.get, "/v3/\(p)/instances/\(empty.id)/backups/restorable-time-interval")
            #expect(none.status == .ok)
            #expect(Self.intervals(none).isEmpty)
            #expect(none.json["total"] as? Int == 0)
            #expect(none.json["offset"] as? Int == 0)
            #expect(none.json["limit"] as? Int == 10)

            // Two nodes, both archived; node b's archive ends earlier. A failed backup counts for nothing.
            let source = Self.instance(projectID: p, name: "ddm-src")
            try await ddm.insertInstance(source)
            let (a, b) = (Identifiers.ddm(suffix: "in01"), Identifiers.ddm(suffix: "in01"))
            try await ddm.insertBackup(Self.backup(source, at: 60, nodes: [(a, "bin.000001", 300), (b, "bin.000009", 200)]))
            try await ddm.insertBackup(Self.backup(source, at: 30, nodes: [(a, "bin.000001", 100), (b, "bin.000009", 100)], status: .createfail))
            for (node, file, last) in [(a, "bin.000001", 3600.0), (b, "bin.000009", 1800.0)] {
                #expect(try await archive.acquireLease(nodeID: node, projectID: p, owner: "test", until: Date().addingTimeInterval(600), now: Date()))
                #expect(
                    try await archive.appendSegment(
                        Self.segment(node, 1, file, 0, 1000, last: last), cursor: BinlogCursor(file: file, position: 1000), owner: "test",
                        now: Date()))
            }
            let both = try await server.signed(.get, "/v3/\(p)/instances/\(source.id)/backups/restorable-time-interval")
            #expect(both.status == .ok)
            #expect(Self.intervals(both) == [["2025-05-20T08:01:00+0000", "2025-05-20T08:30:00+0000"]])
            #expect(both.json["total"] as? Int == 1)

            // A later backup that also covers a node without binlog: a zero-length window at its cut, listed after.
            let c = Identifiers.ddm(suffix: "in01")
            try await ddm.insertBackup(Self.backup(source, at: 7200, nodes: [(a, "bin.000001", 900), (c, "", 0)]))
            let three = try await server.signed(.get, "/v3/\(p)/instances/\(source.id)/backups/restorable-time-interval")
            #expect(
                Self.intervals(three) == [
                    ["2025-05-20T08:01:00+0000", "2025-05-20T08:30:00+0000"], ["2025-05-20T10:00:00+0000", "2025-05-20T10:00:00+0000"],
                ])
            let paged = try await server.signed(.get, "/v3/\(p)/instances/\(source.id)/backups/restorable-time-interval?offset=1&limit=1")
            #expect(Self.intervals(paged) == [["2025-05-20T10:00:00+0000", "2025-05-20T10:00:00+0000"]])
            #expect(paged.json["total"] as? Int == 2)
            let badLimit = try await server.signed(.get, "/v3/\(p)/instances/\(source.id)/backups/restorable-time-interval?limit=0")
            #expect(badLimit.status == .badRequest)
            #expect(badLimit.errorCode == "DBS.280001")

            // Unknown instance, and another project's instance: 404 DBS.200002 with both key pairs.
            let unknown = try await server.signed(.get, "/v3/\(p)/instances/\(Identifiers.ddm(suffix: "in09"))/backups/restorable-time-interval")
            #expect(unknown.status == .notFound)
            #expect(unknown.errorCode == "DBS.200002")
            #expect(unknown.json["errCode"] as? String == "DBS.200002")
            let foreign = Self.instance(projectID: Identifiers.hex32(), name: "ddm-other")
            try await ddm.insertInstance(foreign)
            try await ddm.insertBackup(Self.backup(foreign, at: 60, nodes: [(a, "bin.000001", 300)]))
            let other = try await server.signed(.get, "/v3/\(p)/instances/\(foreign.id)/backups/restorable-time-interval")
            #expect(other.status == .notFound)
            #expect(other.errorCode == "DBS.200002")
        }
    }
}
