import CofferCore
import CofferServer
import CofferStorage
import CofferTestSupport
import Foundation
import HTTPTypes
import NIOCore
import Testing
import Yams

@Suite("Routes, spec and operations endpoints")
struct SpecAndOperationsTests {
    static let specPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/openapi.yaml")

    @Test("Every served route is in docs/openapi.yaml and every spec operation is served")
    func routesMatchSpec() async throws {
        let spec = try #require(try Yams.load(yaml: String(contentsOf: Self.specPath, encoding: .utf8)) as? [String: Any])
        let paths = try #require(spec["paths"] as? [String: Any])
        var documented = Set<String>()
        for (path, item) in paths {
            for method in (item as? [String: Any] ?? [:]).keys where ["get", "post", "put", "delete", "patch", "head"].contains(method) {
                documented.insert(method.uppercased() + " " + path)
            }
        }
        let expected = documented
        try await TestServer.run { server in
            let documented = expected
            // The web console (`/console…`) is Coffer's own UI, not part of the Huawei API contract: not in the spec.
            let served = Set(server.parts.routes.routes.filter { !$0.template.hasPrefix("/console") }.map { $0.method.rawValue + " " + $0.template })
            #expect(served == documented, "served but undocumented: \(served.subtracting(documented)); documented but not served: \(documented.subtracting(served))")
        }
    }

    static let resourcePath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Sources/CofferServer/Resources/openapi.yaml")

    /// The error bodies a response may declare: each service's own form (reference section 7).
    static let errorSchemas = Set(["DcsError", "GatewayError", "IamError", "DdmError"].map { "#/components/schemas/" + $0 })

    @Test("docs/openapi.yaml links to the served resource; /openapi.yaml parses and every operation declares its errors")
    func servesSpec() async throws {
        // A copy would drift: docs/ must be a symbolic link to the one file the server bundles.
        let target = try FileManager.default.destinationOfSymbolicLink(atPath: Self.specPath.path)
        #expect(target == "../Sources/CofferServer/Resources/openapi.yaml")
        let resource = try String(contentsOf: Self.resourcePath, encoding: .utf8)
        try await TestServer.run { server in
            let reply = try await server.raw(.get, "/openapi.yaml")
            #expect(reply.status == .ok)
            #expect(reply.headers[.contentType] == "application/yaml; charset=utf-8")
            let served = String(buffer: reply.body)
            #expect(served == resource, "the bundled copy is stale: rebuild")
            let spec = try #require(try Yams.load(yaml: served) as? [String: Any])
            #expect((spec["openapi"] as? String)?.hasPrefix("3.") == true)
            let components = try #require(spec["components"] as? [String: Any])
            let sharedResponses = components["responses"] as? [String: Any] ?? [:]
            let paths = try #require(spec["paths"] as? [String: Any])
            var operations = 0
            for (path, item) in paths {
                for (method, value) in item as? [String: Any] ?? [:] where ["get", "post", "put", "delete"].contains(method) {
                    operations += 1
                    let operation = try #require(value as? [String: Any])
                    let name = operation["operationId"] as? String ?? method + " " + path
                    let responses = try #require(operation["responses"] as? [String: Any], "\(name)")
                    let authenticated = !((operation["security"] as? [Any]) ?? [[:]]).isEmpty
                    // Any route can fail unexpectedly; an authenticated one can be refused; a malformed project id is a 400.
                    #expect(responses["500"] != nil, "\(name) declares no 500")
                    if authenticated { #expect(responses["401"] != nil, "\(name) declares no 401") }
                    if authenticated && path.contains("{project_id}") { #expect(responses["400"] != nil, "\(name) declares no 400") }
                    for (code, response) in responses where code.hasPrefix("4") || code.hasPrefix("5") {
                        var object = response as? [String: Any] ?? [:]
                        if let ref = object["$ref"] as? String {
                            object = sharedResponses[String(ref.dropFirst("#/components/responses/".count))] as? [String: Any] ?? [:]
                        }
                        // 416 carries no body (RFC 9110), an unhealthy /health its status object; every other error
                        // answers one of the error schemas.
                        guard code != "416", !(name == "getHealth" && code == "503") else { continue }
                        let schema = ((object["content"] as? [String: Any])?["application/json"] as? [String: Any])?["schema"] as? [String: Any]
                        let refs = ((schema?["oneOf"] as? [[String: Any]]) ?? schema.map { [$0] } ?? []).compactMap { $0["$ref"] as? String }
                        #expect(!refs.isEmpty && refs.allSatisfy(Self.errorSchemas.contains), "\(name) \(code): \(String(describing: schema))")
                    }
                }
            }
            #expect(operations == server.parts.routes.routes.filter { !$0.template.hasPrefix("/console") }.count)
        }
    }

    @Test("/health and /metrics answer without credentials; metrics count requests per route")
    func operations() async throws {
        try await TestServer.run { server in
            let health = try await server.raw(.get, "/health")
            #expect(health.status == .ok)
            #expect(health.json["status"] as? String == "ok")
            #expect(health.requestID?.count == 32)
            _ = try await server.signed(.get, "/v2/\(server.projectID)/instances")
            let metrics = String(buffer: try await server.raw(.get, "/metrics").body)
            #expect(metrics.contains(#"coffer_http_requests_total{route="/health",method="GET",status="200"} 1"#))
            #expect(metrics.contains(#"coffer_http_requests_total{route="/v2/{project_id}/instances",method="GET",status="200"} 1"#))
            #expect(metrics.contains("coffer_http_request_duration_seconds_bucket"))
        }
    }

    @Test("Per-instance series: hidden from an open /metrics, served only to the bearer of COFFER_METRICS_TOKEN")
    func metricsToken() async throws {
        let instanceLine = "coffer_backup_last_success_age_seconds{service=\"dcs\",instance_id="
        try await TestServer.run { server in
            _ = try await DCSBackupListTests.seed(server)
            let open = try await server.raw(.get, "/metrics")
            #expect(open.status == .ok)
            let text = String(buffer: open.body)
            #expect(!text.contains("instance_id="), "an open /metrics names no instance")
            #expect(text.contains("# TYPE coffer_backup_last_success_age_seconds gauge"))
            #expect(text.contains(#"coffer_job_queue_depth{kind="dcs.backup",state="queued"} 0"#))
        }
        try await TestServer.run(configure: { $0.metricsToken = "scrape-secret-1" }) { server in
            _ = try await DCSBackupListTests.seed(server)
            for headers: HTTPFields in [[:], [.authorization: "Bearer scrape-secret-2"], [.authorization: "Bearer scrape-secret-1x"], [.authorization: "scrape-secret-1"]] {
                let refused = try await server.raw(.get, "/metrics", headers: headers)
                #expect(refused.status == .unauthorized)
                #expect(refused.errorCode == "APIGW.0301")
                #expect(!String(buffer: refused.body).contains("coffer_"))
            }
            let scraped = try await server.raw(.get, "/metrics", headers: [.authorization: "Bearer scrape-secret-1"])
            #expect(scraped.status == .ok)
            #expect(String(buffer: scraped.body).contains(instanceLine))
        }
    }

    @Test("Unknown URLs and methods answer in each service's error form, with a request id")
    func unknownRoutes() async throws {
        try await TestServer.run { server in
            let dcs = try await server.raw(.get, "/v2/\(server.projectID)/nothing")
            #expect(dcs.status == .notFound)
            #expect(dcs.errorCode == "DCS.4001")
            #expect(dcs.json.keys.contains("error_ext_msg"))
            #expect(dcs.requestID != nil)
            let method = try await server.raw(.patch, "/v2/\(server.projectID)/instances")
            #expect(method.status == .methodNotAllowed)
            #expect(method.errorCode == "DCS.5001")
            let ddm = try await server.raw(.get, "/v3/\(server.projectID)/nothing")
            #expect(ddm.status == .notFound)
            #expect(ddm.json["errCode"] as? String == ddm.errorCode)
            #expect(ddm.json["externalMessage"] != nil)
            let iam = try await server.raw(.delete, "/v3/auth/tokens")
            #expect(iam.status == .methodNotAllowed)
            #expect(iam.errorCode?.hasPrefix("IAM.") == true)
        }
    }

    @Test("Malformed JSON, wrong types and oversized bodies are 400/413, never 500")
    func badBodies() async throws {
        try await TestServer.run { server in
            let base = "/v2/\(server.projectID)/instances"
            let malformed = try await server.signed(.post, base, json: "{not json")
            #expect(malformed.status == .badRequest)
            #expect(malformed.errorCode == "DCS.4005")
            let array = try await server.signed(.post, base, json: "[1, 2]")
            #expect(array.status == .badRequest)
            let wrongType = try await server.signed(.post, base, json: #"{"name": "cache-01", "engine": "Redis", "private_ip": "127.0.0.1", "port": "6379"}"#)
            #expect(wrongType.status == .badRequest)
            #expect(wrongType.errorCode == "DCS.4800")
            #expect((wrongType.json["error_msg"] as? String)?.contains("port") == true)
            let empty = try await server.signed(.post, base)
            #expect(empty.errorCode == "DCS.4004")
            let huge = try await server.signed(.post, base, json: "{\"name\": \"" + String(repeating: "x", count: 1 << 20) + "\"}")
            #expect(huge.status.code == 413)
            #expect(huge.requestID != nil)
            let badQuery = try await server.signed(.get, base + "?limit=abc")
            #expect(badQuery.status == .badRequest)
            #expect(badQuery.errorCode == "DCS.4800")
        }
    }
}
