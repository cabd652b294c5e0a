import CofferCore
import CofferIAM
import CofferJobs
import CofferServer
import CofferStorage
import CofferTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

/// A whole Coffer server in the test process (router transport), on a fresh data directory and
/// database, with helpers that sign requests exactly as the SDK does.
struct TestServer {
    static let accessKey = "AKTESTADMIN000000001"
    static let secretKey = "SKtestadmin0000000000000000000000000001"
    static let password = "admin-password-1"

    let client: any TestClientProtocol
    let parts: CofferApp.Parts
    let account: IdentityService.Bootstrap
    let dataDirectory: String

    var projectID: String { self.account.projectID }

    /// Runs `body` against a new server; everything is removed afterwards.
    static func run(
        database: TestDatabase = .sqlite, clock: @escaping @Sendable () -> Date = { Date() },
        configure: (inout CofferConfiguration) -> Void = { _ in }, _ body: @escaping @Sendable (TestServer) async throws -> Void
    ) async throws {
        try await database.withFreshURL { url in
            let directory = try TemporaryDirectory(prefix: "coffer-server")
            defer { directory.remove() }
            let dataDirectory = directory.path
            var configuration = CofferConfiguration()
            configuration.dataDirectory = directory.path
            configuration.announcesFirstStart = false
            configuration.databaseURL = url
            configuration.runsWorker = false
            configuration.adminPassword = Self.password
            configuration.adminAccessKey = Self.accessKey
            configuration.adminSecretKey = Self.secretKey
            configure(&configuration)
            var logger = Logger(label: "coffer.test")
            logger.logLevel = .warning
            let (app, parts) = try await CofferApp.build(configuration, logger: logger, hasher: PasswordHasher(iterations: 1000), clock: clock)
            // The store runs as the app's first service; start-up (migrations, first account, sweep) is done
            // before the test closure runs.
            try await app.test(.router) { client in
                let account = try JSONDecoder().decode(
                    IdentityService.Bootstrap.self, from: Data(contentsOf: URL(fileURLWithPath: dataDirectory + "/bootstrap.json")))
                // The start-up sweep is the only queued job; run it so each test's jobs are the next ones claimed.
                _ = try await parts.worker.runOnce()
                try await body(TestServer(client: client, parts: parts, account: account, dataDirectory: dataDirectory))
            }
        }
    }

    /// A response with its body parsed as JSON.
    struct Reply {
        var status: HTTPResponse.Status
        var headers: HTTPFields
        var body: ByteBuffer
        /// The body as a JSON object. A body that is not one records a test failure (showing the status and the
        /// start of the body) instead of reading as `[:]`, which let `json["x"] == nil` checks pass on any body.
        var json: [String: Any] {
            let data = Data(self.body.readableBytesView)
            guard let object = (try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])) as? [String: Any] else {
                Issue.record("the \(self.status.code) response body is not a JSON object: \(String(decoding: data.prefix(200), as: UTF8.self))")
                return [:]
            }
            return object
        }
        var errorCode: String? { self.json["error_code"] as? String }
        var requestID: String? { self.headers[HTTPField.Name("X-Request-Id")!] }
    }

    /// Sends a request signed with SDK-HMAC-SHA256 like `DcsClient` does (`content-type`, `host`,
    /// `user-agent`, `x-project-id`, `x-sdk-date` signed).
    func signed(
        _ method: HTTPRequest.Method, _ uri: String, json: String? = nil, accessKey: String = TestServer.accessKey,
        secretKey: String = TestServer.secretKey, projectHeader: String? = nil, date: Date = Date(), extraHeaders: HTTPFields = [:]
    ) async throws -> Reply {
        let body = Array((json ?? "").utf8)
        var headers: [String: String] = [
            "content-type": json == nil ? "application/json" : "application/json;charset=utf-8",
            "host": "localhost",
            "user-agent": "huaweicloud-usdk-python/3.0; os/Linux#6 x86_64 python/3.11.7",
            "x-sdk-date": WireTime.sdkDate(date),
        ]
        if let project = projectHeader ?? self.pathProject(uri) { headers["x-project-id"] = project }
        let (path, query) = Self.split(uri)
        let signedNames = headers.keys.sorted()
        let canonical = SDKSigner.canonicalRequest(
            method: method.rawValue, rawPath: path, rawQuery: query, signedHeaders: signedNames, header: { headers[$0] },
            payloadHash: SDKSigner.payloadHash(body: body, contentSHA256Header: nil))
        let signature = SDKSigner.signature(
            stringToSign: SDKSigner.stringToSign(canonicalRequest: canonical, sdkDate: headers["x-sdk-date"]!), secretKey: secretKey)
        var fields = extraHeaders
        for (name, value) in headers where name != "host" { fields[HTTPField.Name(name)!] = value }
        fields[.authorization] = "SDK-HMAC-SHA256 Access=\(accessKey), SignedHeaders=\(signedNames.joined(separator: ";")), Signature=\(signature)"
        return try await self.raw(method, uri, headers: fields, body: json)
    }

    /// Sends a request with `X-Auth-Token`.
    func withToken(_ method: HTTPRequest.Method, _ uri: String, token: String, json: String? = nil) async throws -> Reply {
        var fields = HTTPFields()
        fields[HTTPField.Name("X-Auth-Token")!] = token
        fields[.contentType] = "application/json"
        return try await self.raw(method, uri, headers: fields, body: json)
    }

    /// Sends a request as given.
    func raw(_ method: HTTPRequest.Method, _ uri: String, headers: HTTPFields = [:], body: String? = nil) async throws -> Reply {
        try await self.client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }) { response in
            Reply(status: response.status, headers: response.headers, body: response.body)
        }
    }

    /// A token for the admin user, from `POST /v3/auth/tokens`.
    func token(user: String = "admin", password: String = TestServer.password) async throws -> Reply {
        let body = """
            {"auth": {"identity": {"methods": ["password"], "password": {"user": {"domain": {"name": "coffer"}, "name": "\(user)", "password": "\(password)"}}}, "scope": {"project": {"name": "local-1"}}}}
            """
        return try await self.raw(.post, "/v3/auth/tokens", headers: [.contentType: "application/json;charset=utf-8"], body: body)
    }

    private func pathProject(_ uri: String) -> String? {
        let segments = Self.split(uri).path.split(separator: "/")
        guard segments.count > 1, segments[0] == "v2" || segments[0] == "v3" || segments[0] == "v1" else { return nil }
        return String(segments[1])
    }

    private static func split(_ uri: String) -> (path: String, query: String) {
        guard let mark = uri.firstIndex(of: "?") else { return (uri, "") }
        return (String(uri[..<mark]), String(uri[uri.index(after: mark)...]))
    }
}
