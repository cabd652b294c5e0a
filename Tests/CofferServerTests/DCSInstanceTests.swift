import CofferCore
import CofferRedis
import CofferServer
import CofferStorage
import CofferTestSupport
import Foundation
import HTTPTypes
import NIOCore
import Testing

@Suite("DCS instances adopting real Redis servers", .timeLimit(.minutes(2)))
struct DCSInstanceTests {
    static func createBody(name: String, port: Int, password: String?, extra: String = "") -> String {
        let pw = password.map { #", "password": "\#($0)""# } ?? #", "no_password_access": true"#
        return """
            {"name": "\(name)", "engine": "Redis", "engine_version": "7.0", "capacity": 0.125, "spec_code": "redis.ha.xu1.tiny.r2.128", \
            "az_codes": ["az1"], "vpc_id": "vpc-1", "subnet_id": "subnet-1", "private_ip": "127.0.0.1", "port": \(port)\(pw)\(extra)}
            """
    }

    @Test("Create, list, show (live facts), update the policy, delete")
    func lifecycle() async throws {
        try await RedisServer.withServer(password: "redis-pw") { redis in
            try await TestServer.run { server in
                let base = "/v2/\(server.projectID)/instances"
                let created = try await server.signed(.post, base, json: Self.createBody(name: "cache-01", port: redis.port, password: "redis-pw"))
                #expect(created.status == .ok)
                let items = try #require(created.json["instances"] as? [[String: Any]])
                let id = try #require(items.first?["instance_id"] as? String)
                #expect(items.first?["instance_name"] as? String == "cache-01")

                let list = try await server.signed(.get, base + "?limit=10&offset=0")
                #expect(list.json["instance_num"] as? Int == 1)
                let listed = try #require((list.json["instances"] as? [[String: Any]])?.first)
                #expect(listed["instance_id"] as? String == id)
                #expect(listed["status"] as? String == "RUNNING")
                #expect(listed["no_password_access"] as? String == "false")
                #expect(listed["capacity"] as? Int == 0)
                #expect(listed["capacity_minor"] as? String == "0.125")
                #expect(listed["vpc_id"] as? String == "vpc-1")

                let shown = try await server.signed(.get, base + "/" + id)
                #expect(shown.status == .ok)
                let version = try #require(shown.json["engine_version"] as? String)
                #expect(version.split(separator: ".").count == 2)
                #expect((shown.json["used_memory"] as? Int).map { $0 >= 0 } == true)
                #expect(shown.json["task"] is NSNull)
                #expect(shown.json["instance_backup_policy"] is NSNull)
                #expect(shown.json["port"] as? Int == redis.port)
                #expect(String(buffer: shown.body).contains("redis-pw") == false)

                let policy = #"{"instance_backup_policy": {"backup_type": "auto", "save_days": 3, "periodical_backup_plan": {"backup_at": [1, 3, 5], "period_type": "weekly", "begin_at": "00:00-01:00"}}}"#
                #expect(try await server.signed(.put, base + "/" + id, json: policy).status == .noContent)
                let updated = try await server.signed(.get, base + "/" + id)
                let wrapped = try #require(updated.json["instance_backup_policy"] as? [String: Any])
                let inner = try #require(wrapped["policy"] as? [String: Any])
                #expect(inner["backup_type"] as? String == "auto")
                #expect(inner["save_days"] as? Int == 3)
                #expect((inner["periodical_backup_plan"] as? [String: Any])?["backup_at"] as? [Int] == [1, 3, 5])

                #expect(try await server.signed(.delete, base + "/" + id).status == .noContent)
                let gone = try await server.signed(.get, base + "/" + id)
                #expect(gone.status == .notFound)
                #expect(gone.errorCode == "DCS.3022")
                #expect(try await server.signed(.delete, base + "/" + id).status == .notFound)
            }
        }
    }

    @Test("Backup policy validation answers DCS.4072–4076", arguments: [
        (#"{"backup_type": "auto", "save_days": 8, "periodical_backup_plan": {"backup_at": [1], "period_type": "weekly", "begin_at": "00:00-01:00"}}"#, "DCS.4072"),
        (#"{"backup_type": "auto", "periodical_backup_plan": {"backup_at": [1], "period_type": "weekly", "begin_at": "00:00-01:00"}}"#, "DCS.4072"),
        (#"{"backup_type": "sometimes", "save_days": 1}"#, "DCS.4073"),
        (#"{"backup_type": "auto", "save_days": 1, "periodical_backup_plan": {"backup_at": [1], "period_type": "daily", "begin_at": "00:00-01:00"}}"#, "DCS.4074"),
        (#"{"backup_type": "auto", "save_days": 1, "periodical_backup_plan": {"backup_at": [0, 8], "period_type": "weekly", "begin_at": "00:00-01:00"}}"#, "DCS.4075"),
        (#"{"backup_type": "auto", "save_days": 1, "periodical_backup_plan": {"backup_at": ["1"], "period_type": "weekly", "begin_at": "00:00-01:00"}}"#, "DCS.4075"),
        (#"{"backup_type": "auto", "save_days": 1, "periodical_backup_plan": {"backup_at": [1], "period_type": "weekly", "begin_at": "00:30-01:30"}}"#, "DCS.4076"),
        (#"{"backup_type": "auto", "save_days": 1, "periodical_backup_plan": {"backup_at": [1], "period_type": "weekly", "begin_at": "23:00-01:00"}}"#, "DCS.4076"),
    ])
    func policyValidation(policy: String, code: String) async throws {
        try await RedisServer.withServer { redis in
            try await TestServer.run { server in
                let reply = try await server.signed(
                    .post, "/v2/\(server.projectID)/instances",
                    json: Self.createBody(name: "cache-02", port: redis.port, password: nil, extra: #", "instance_backup_policy": "# + policy))
                #expect(reply.status == .badRequest)
                #expect(reply.errorCode == code)
                #expect(try await server.signed(.get, "/v2/\(server.projectID)/instances").json["instance_num"] as? Int == 0)
            }
        }
    }

    @Test("Unreachable address, wrong password, bad name, duplicate name, non-Redis engine")
    func createFailures() async throws {
        try await RedisServer.withServer(password: "right") { redis in
            try await TestServer.run { server in
                let base = "/v2/\(server.projectID)/instances"
                let closedPort = try FreePort.next()
                let unreachable = try await server.signed(.post, base, json: Self.createBody(name: "cache-03", port: closedPort, password: nil))
                #expect(unreachable.status == .badRequest)
                #expect((unreachable.json["error_msg"] as? String)?.contains("127.0.0.1:\(closedPort)") == true)
                let wrong = try await server.signed(.post, base, json: Self.createBody(name: "cache-03", port: redis.port, password: "wrong"))
                #expect(wrong.status == .badRequest)
                #expect(wrong.errorCode == "DCS.4080")
                #expect(!String(buffer: wrong.body).contains("\"wrong\""))
                for name in ["abc", "1cache", "cache 01", String(repeating: "a", count: 65)] {
                    let bad = try await server.signed(.post, base, json: Self.createBody(name: name, port: redis.port, password: "right"))
                    #expect(bad.errorCode == "DCS.4010", "\(name)")
                }
                let memcached = try await server.signed(
                    .post, base, json: Self.createBody(name: "cache-04", port: redis.port, password: "right").replacingOccurrences(of: "\"Redis\"", with: "\"Memcached\""))
                #expect(memcached.errorCode == "DCS.4006")
                #expect(try await server.signed(.post, base, json: Self.createBody(name: "cache-05", port: redis.port, password: "right")).status == .ok)
                let duplicate = try await server.signed(.post, base, json: Self.createBody(name: "cache-05", port: redis.port, password: "right"))
                #expect(duplicate.errorCode == "DCS.4060")
                #expect(try await server.signed(.get, base).json["instance_num"] as? Int == 1)
            }
        }
    }

    @Test("Show reports ERROR when the adopted server is down")
    func serverDown() async throws {
        let redis = try await RedisServer.start()
        try await TestServer.run { server in
            let created = try await server.signed(
                .post, "/v2/\(server.projectID)/instances", json: Self.createBody(name: "cache-06", port: redis.port, password: nil))
            let id = try #require((created.json["instances"] as? [[String: Any]])?.first?["instance_id"] as? String)
            await redis.stop()
            let shown = try await server.signed(.get, "/v2/\(server.projectID)/instances/\(id)")
            #expect(shown.status == .ok)
            #expect(shown.json["status"] as? String == "ERROR")
            #expect(shown.json["no_password_access"] as? String == "true")
        }
    }
}
