import CofferCore
import CofferIAM
import CofferServer
import CofferStorage
import CofferTestSupport
import Foundation
import HTTPTypes
import NIOCore
import Testing

@Suite("DCS backup list (seed 003)", .timeLimit(.minutes(1)))
struct DCSBackupListTests {
    /// An instance row inserted directly (no Redis needed to list backups), with 25 backups a minute apart.
    static func seed(_ server: TestServer) async throws -> (instance: DCSInstance, backups: [DCSBackupRecord], base: Date) {
        let base = WireTime.date(epochMilliseconds: 1_715_000_000_000)
        let instance = DCSInstance(
            id: Identifiers.uuid(), projectID: server.projectID, name: "cache-01", engine: "Redis", requestedEngineVersion: "7.0",
            host: "127.0.0.1", port: 1, accessUser: nil, password: nil, description: nil, status: "RUNNING", capacityGB: 1, specCode: nil,
            backupPolicy: nil, extra: [:], createdAt: base, updatedAt: base)
        try await server.parts.store.dcs.insertInstance(instance)
        var backups: [DCSBackupRecord] = []
        for i in 0..<25 {
            let at = base.addingTimeInterval(Double(i) * 60)
            let failed = i == 3
            let record = DCSBackupRecord(
                id: Identifiers.uuid(), projectID: server.projectID, instanceID: instance.id, name: "backup_" + WireTime.compact(at),
                backupType: i % 2 == 0 ? .manual : .auto, backupFormat: .rdb, status: failed ? .failed : (i == 4 ? .deleted : .succeed),
                progress: failed ? .init(hundredths: 4205) : .complete, size: Int64(1000 + i), remark: i == 0 ? "first" : nil,
                errorCode: failed ? "dcs.08.0002" : nil, period: i % 2 == 1 ? "weekly" : nil, isSupportRestore: !failed, createdAt: at,
                updatedAt: at.addingTimeInterval(5), executionAt: at, blobKey: nil, sha256: nil)
            try await server.parts.store.dcs.insertBackup(record)
            backups.append(record)
        }
        return (instance, backups, base)
    }

    @Test("Paging: total_num counts every match, newest first, no duplicates", arguments: TestDatabase.available)
    func paging(database: TestDatabase) async throws {
        try await TestServer.run(database: database) { server in
            let (instance, backups, _) = try await Self.seed(server)
            var ids: [String] = []
            for offset in [0, 10, 20] {
                let reply = try await server.signed(.get, "/v2/\(server.projectID)/instances/\(instance.id)/backups?limit=10&offset=\(offset)")
                #expect(reply.status == .ok)
                #expect(reply.json["total_num"] as? Int == 25)
                ids += (reply.json["backup_record_response"] as? [[String: Any]] ?? []).compactMap { $0["backup_id"] as? String }
            }
            #expect(ids == backups.reversed().map(\.id))
            let defaults = try await server.signed(.get, "/v2/\(server.projectID)/instances/\(instance.id)/backups")
            #expect((defaults.json["backup_record_response"] as? [Any])?.count == 10)
        }
    }

    @Test("Every field has its declared JSON type; period and error_code are strings or absent, never {}")
    func wireTypes() async throws {
        try await TestServer.run { server in
            let (instance, backups, _) = try await Self.seed(server)
            let reply = try await server.signed(.get, "/v2/\(server.projectID)/instances/\(instance.id)/backups?limit=25&offset=0")
            let records = try #require(reply.json["backup_record_response"] as? [[String: Any]])
            #expect(records.count == 25)
            for record in records {
                #expect(record["progress"] is String)
                #expect(record["is_support_restore"] as? String == "TRUE" || record["is_support_restore"] as? String == "FALSE")
                #expect(record["size"] is Int)
                #expect(record["period"] == nil || record["period"] is String)
                #expect(record["error_code"] == nil || record["error_code"] is String)
                let created = try #require(record["created_at"] as? String)
                #expect(created.count == "2019-05-10T08:31:16.166Z".count && created.hasSuffix("Z"))
                #expect(record["backup_format"] as? String == "rdb")
            }
            let failed = try #require(records.first { $0["backup_id"] as? String == backups[3].id })
            #expect(failed["status"] as? String == "failed")
            #expect(failed["error_code"] as? String == "dcs.08.0002")
            #expect(failed["progress"] as? String == "42.05")
            #expect(failed["is_support_restore"] as? String == "FALSE")
            #expect(records.first { $0["backup_id"] as? String == backups[4].id }?["status"] as? String == "deleted")
            #expect(records.last?["created_at"] as? String == WireTime.dcs(backups[0].createdAt))
            #expect(records.last?["remark"] as? String == "first")
            #expect(!String(buffer: reply.body).contains("{}"))
        }
    }

    @Test("begin_time/end_time (and beginTime/endTime) filter on creation time, inclusive")
    func timeFilter() async throws {
        try await TestServer.run { server in
            let (instance, backups, base) = try await Self.seed(server)
            let begin = WireTime.compact(base.addingTimeInterval(5 * 60))
            let end = WireTime.compact(base.addingTimeInterval(9 * 60))
            for query in ["begin_time=\(begin)&end_time=\(end)", "beginTime=\(begin)&endTime=\(end)"] {
                let reply = try await server.signed(.get, "/v2/\(server.projectID)/instances/\(instance.id)/backups?\(query)&limit=100")
                #expect(reply.json["total_num"] as? Int == 5)
                let ids = (reply.json["backup_record_response"] as? [[String: Any]] ?? []).compactMap { $0["backup_id"] as? String }
                #expect(ids == backups[5...9].reversed().map(\.id))
            }
        }
    }

    @Test("Invalid parameters are 400 DCS.4800; an unknown or foreign instance is 404 DCS.3022")
    func failures() async throws {
        try await TestServer.run { server in
            let (instance, _, _) = try await Self.seed(server)
            let base = "/v2/\(server.projectID)/instances/\(instance.id)/backups"
            for query in ["limit=0", "limit=1001", "offset=-1", "limit=ten", "begin_time=2024-01-01", "end_time=20241301000000"] {
                let reply = try await server.signed(.get, base + "?" + query)
                #expect(reply.status == .badRequest, "\(query)")
                #expect(reply.errorCode == "DCS.4800", "\(query)")
            }
            let reversed = try await server.signed(.get, base + "?begin_time=20240102000000&end_time=20240101000000")
            #expect(reversed.errorCode == "DCS.4025")
            let unknown = try await server.signed(.get, "/v2/\(server.projectID)/instances/\(Identifiers.uuid())/backups")
            #expect(unknown.status == .notFound)
            #expect(unknown.errorCode == "DCS.3022")
            let malformed = try await server.signed(.get, "/v2/\(server.projectID)/instances/not-a-uuid/backups")
            #expect(malformed.errorCode == "DCS.3022")

            // Another project, with its own user and AK, sees neither the instance nor its backups.
            let service = IdentityService(store: server.parts.store.identities, hasher: .init(iterations: 1000))
            let project = try await service.createProject(name: "second", now: Date())
            _ = try await service.createUser(name: "dave", password: "dave-password", projectID: project.id, now: Date())
            let key = try await service.createAccessKey(userName: "dave", now: Date())
            let foreign = try await server.signed(
                .get, "/v2/\(project.id)/instances/\(instance.id)/backups", accessKey: key.accessKey, secretKey: key.secretKey)
            #expect(foreign.status == .notFound)
            #expect(foreign.errorCode == "DCS.3022")
            let crossed = try await server.signed(.get, base, accessKey: key.accessKey, secretKey: key.secretKey)
            #expect(crossed.errorCode == "DCS.1004")
        }
    }
}
