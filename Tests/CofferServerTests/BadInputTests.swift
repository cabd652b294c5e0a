import CofferCore
import CofferJobs
import CofferServer
import CofferTestSupport
import Foundation
import HTTPTypes
import NIOCore
import Testing

/// Request input that used to stop the whole server (a trapping conversion is a process exit, not a 500):
/// each case answers the family's 400 now, and the server keeps serving afterwards.
@Suite("Bad input never stops the server", .timeLimit(.minutes(1)))
struct BadInputTests {
    /// Epoch-millisecond values no query may give: past Int64 (`Int64(Double)` trapped), not finite, negative,
    /// after 9999-12-31 (the store's `epochMilliseconds` overflowed on the way back), or not a number.
    static let badMilliseconds = [
        "1e19", "inf", "-inf", "nan", "9223372036854775808", "9223372036854775807", "1e300", "-1", "253402300800000", "abc", "",
    ]

    @Test("DDM jobs: start_time/end_time out of range are 400 DBS.280001", arguments: ["start_time", "end_time"])
    func jobTimes(name: String) async throws {
        try await TestServer.run { server in
            let base = "/v3/\(server.projectID)/jobs"
            for value in Self.badMilliseconds {
                let reply = try await server.signed(.get, base + "?\(name)=" + value)
                #expect(reply.status == .badRequest, "\(name)=\(value)")
                #expect(reply.errorCode == "DBS.280001", "\(name)=\(value)")
                #expect((reply.json["error_msg"] as? String)?.contains(name) == true, "\(name)=\(value)")
            }
            // The SDK sends `time.time() * 1000`, a float; -0 and the last millisecond of 9999 are times too.
            for value in ["1700000000000.75", "-0", "0", "253402300799999"] {
                let reply = try await server.signed(.get, base + "?\(name)=" + value)
                #expect(reply.status == .ok, "\(name)=\(value): \(String(buffer: reply.body))")
            }
        }
    }

    @Test("DDM related-dn: restore_time out of range is 400 DBS.280001")
    func restoreTime() async throws {
        try await TestServer.run { server in
            let p = server.projectID
            let created = try await server.signed(
                .post, "/v1/\(p)/instances",
                json: #"{"instance": {"name": "ddm-bad", "flavor_id": "f", "node_num": 1, "engine_id": "e", "available_zones": ["az1"], "vpc_id": "v", "security_group_id": "s", "subnet_id": "n"}}"#)
            let instance = try #require(created.json["id"] as? String)
            let base = "/v3/\(p)/instances/\(instance)/backups/related-dn"
            for value in Self.badMilliseconds {
                let reply = try await server.signed(.get, base + "?restore_time=" + value)
                #expect(reply.status == .badRequest, "restore_time=\(value)")
                #expect(reply.errorCode == "DBS.280001", "restore_time=\(value)")
            }
            #expect(try await server.signed(.get, base).status == .badRequest)
            #expect(try await server.signed(.get, base + "?restore_time=1700000000000").status == .ok)
        }
    }

    @Test("DCS create: a capacity that does not fit an integer is 400, so show and list cannot trap on it")
    func hugeCapacity() async throws {
        try await RedisServer.withServer { redis in
            try await TestServer.run { server in
                let base = "/v2/\(server.projectID)/instances"
                for capacity in ["1e300", "-0.5", "4097", "9223372036854775808"] {
                    let body = DCSInstanceTests.createBody(name: "cache-big", port: redis.port, password: nil)
                        .replacingOccurrences(of: #""capacity": 0.125"#, with: #""capacity": \#(capacity)"#)
                    let reply = try await server.signed(.post, base, json: body)
                    #expect(reply.status == .badRequest, "capacity \(capacity)")
                    #expect(reply.errorCode == "DCS.4800", "capacity \(capacity)")
                    #expect((reply.json["error_msg"] as? String)?.contains("capacity") == true, "capacity \(capacity)")
                }
                let list = try await server.signed(.get, base)
                #expect(list.status == .ok)
                #expect(list.json["instance_num"] as? Int == 0)
                // -0 is a capacity of 0, and 1024 GB a real size.
                for (name, capacity) in [("cache-zero", "-0"), ("cache-tera", "1024")] {
                    let body = DCSInstanceTests.createBody(name: name, port: redis.port, password: nil)
                        .replacingOccurrences(of: #""capacity": 0.125"#, with: #""capacity": \#(capacity)"#)
                    #expect(try await server.signed(.post, base, json: body).status == .ok, "capacity \(capacity)")
                }
                let capacities = (try await server.signed(.get, base).json["instances"] as? [[String: Any]])?.compactMap { $0["capacity"] as? Int }
                #expect(capacities?.sorted() == [0, 1024])
            }
        }
    }

    @Test("DCS backup policy: backup_at days that do not fit an integer are 400 DCS.4075", arguments: ["1e300", "-1e300", "1.5", "9223372036854775808"])
    func hugeBackupDay(day: String) async throws {
        try await TestServer.run { server in
            let policy = #"{"backup_type": "auto", "save_days": 1, "periodical_backup_plan": {"backup_at": [\#(day)], "period_type": "weekly", "begin_at": "00:00-01:00"}}"#
            let body = DCSInstanceTests.createBody(name: "cache-policy", port: 1, password: nil, extra: #", "instance_backup_policy": "# + policy)
            let reply = try await server.signed(.post, "/v2/\(server.projectID)/instances", json: body)
            #expect(reply.status == .badRequest)
            #expect(reply.errorCode == "DCS.4075")
        }
    }

    @Test("Pagination at its limits and malformed escapes answer, never trap")
    func limitsAndEscapes() async throws {
        try await TestServer.run { server in
            let p = server.projectID
            for path in ["/v3/\(p)/jobs", "/v3/\(p)/backups", "/v1/\(p)/instances", "/v3/\(p)/data-nodes", "/v2/\(p)/instances"] {
                let last = try await server.signed(.get, path + "?offset=2147483647&limit=1")
                #expect(last.status == .ok, "\(path)")
                for query in ["offset=2147483648", "offset=9223372036854775808", "offset=-1", "limit=0", "limit=1e3", "offset=%zz"] {
                    let reply = try await server.signed(.get, path + "?" + query)
                    #expect(reply.status == .badRequest, "\(path)?\(query)")
                }
            }
            // Bad escapes stay literal text (Python's unquote): a 400 for the id, never a crash.
            for id in ["%", "%4", "%zz", "%C3%28", "%00"] {
                let reply = try await server.signed(.get, "/v3/\(p)/jobs/\(id)")
                #expect(reply.status == .badRequest, "\(id)")
            }
            #expect(try await server.raw(.get, "/health").status == .ok)
        }
    }

    @Test("Download links: Expires and Range at the edges of Int64 are 403/206/416, never a trap")
    func downloadExtremes() async throws {
        try await RedisServer.withServer(extraArguments: DCSBackupTests.redisArguments(diskless: "yes")) { redis in
            try await TestServer.run { server in
                let instanceID = try await DCSBackupTests.adopt(server, redis)
                let backupID = try #require(try await DCSBackupTests.requestBackup(server, instanceID).json["backup_id"] as? String)
                #expect(try await server.parts.worker.runOnce()?.status == .succeeded)
                let links = try await server.signed(
                    .post, "/v2/\(server.projectID)/instances/\(instanceID)/backups/\(backupID)/links", json: #"{"expiration": 600}"#)
                let link = try #require((links.json["links"] as? [[String: Any]])?.first?["link"] as? String)
                let path = String(link.dropFirst("http://localhost".count))
                let size = try #require(try await server.raw(.get, path).body.readableBytes as Int?)
                try #require(size > 0)
                let unsigned = try #require(path.split(separator: "?").first.map(String.init))
                let signature = try #require(path.split(separator: "&").last.map(String.init))
                for expires in ["9223372036854775808", "9223372036854775807", "-9223372036854775808", "1e19", "%zz"] {
                    let reply = try await server.raw(.get, unsigned + "?Expires=\(expires)&" + signature)
                    #expect(reply.status == .forbidden, "Expires=\(expires)")
                }
                let ranges: [(String, HTTPResponse.Status)] = [
                    ("bytes=-9223372036854775808", .ok), ("bytes=-9223372036854775807", .partialContent),
                    ("bytes=0-9223372036854775807", .partialContent), ("bytes=9223372036854775807-", .rangeNotSatisfiable),
                    ("bytes=--1", .rangeNotSatisfiable), ("bytes=-0", .rangeNotSatisfiable), ("bytes=5-1", .ok),
                    ("bytes=0-0,1-1", .ok), ("bytes=x-y", .ok),
                ]
                for (range, status) in ranges {
                    let reply = try await server.raw(.get, path, headers: [.range: range])
                    #expect(reply.status == status, "\(range)")
                    if status == .partialContent { #expect(reply.body.readableBytes == size, "\(range)") }
                }
            }
        }
    }

    @Test("WireTime saturates instead of trapping on dates no request can carry any more")
    func wireTimeExtremes() {
        #expect(WireTime.epochMilliseconds(Date(timeIntervalSince1970: 1e300)) == .max)
        #expect(WireTime.epochMilliseconds(Date(timeIntervalSince1970: -1e300)) == .min)
        #expect(WireTime.epochMilliseconds(Date(timeIntervalSince1970: 9.3e15)) == .max)
        #expect(WireTime.epochMilliseconds(Date(timeIntervalSince1970: 1.5)) == 1500)
        // Rounded to the nearest millisecond, so every stored millisecond round-trips (CofferCoreTests).
        #expect(WireTime.epochMilliseconds(Date(timeIntervalSince1970: -0.0016)) == -2)
        let last = WireTime.date(epochMilliseconds: WireTime.maxEpochMilliseconds)
        #expect(WireTime.dcs(last) == "9999-12-31T23:59:59.999Z")
        #expect(WireTime.epochMilliseconds(last) == WireTime.maxEpochMilliseconds)
        // Formatting the extremes used to overflow (`ms - floorDiv(ms, 1000) * 1000` at Int64.min).
        #expect(!WireTime.dcs(WireTime.date(epochMilliseconds: .min)).isEmpty)
        #expect(!WireTime.iam(WireTime.date(epochMilliseconds: .max)).isEmpty)
        #expect(WireTime.dcs(WireTime.date(epochMilliseconds: 0)) == "1970-01-01T00:00:00.000Z")
    }
}
