import CofferCore
import CofferIAM
import CofferServer
import CofferStorage
import CofferTestSupport
import Foundation
import HTTPTypes
import NIOCore
import Synchronization
import Testing

@Suite("Authentication and project scope", .timeLimit(.minutes(1)))
struct AuthenticationTests {
    @Test("A correctly signed request passes on SQLite and PostgreSQL", arguments: TestDatabase.available)
    func signedRequest(database: TestDatabase) async throws {
        try await TestServer.run(database: database) { server in
            let reply = try await server.signed(.get, "/v2/\(server.projectID)/instances?offset=0&limit=10")
            #expect(reply.status == .ok)
            #expect(reply.json["instance_num"] as? Int == 0)
        }
    }

    @Test("Gateway failures: no credentials, bad signature, unknown AK, stale or malformed date, missing signed header")
    func gatewayFailures() async throws {
        try await TestServer.run { server in
            let uri = "/v2/\(server.projectID)/instances"
            var cases: [(String, TestServer.Reply)] = []
            cases.append(("none", try await server.raw(.get, uri)))
            cases.append(("bad secret", try await server.signed(.get, uri, secretKey: "wrong")))
            cases.append(("unknown AK", try await server.signed(.get, uri, accessKey: "AKNOBODY")))
            cases.append(("16 min old", try await server.signed(.get, uri, date: Date().addingTimeInterval(-16 * 60))))
            cases.append(("16 min ahead", try await server.signed(.get, uri, date: Date().addingTimeInterval(16 * 60))))
            cases.append(("malformed header", try await server.raw(.get, uri, headers: [.authorization: "SDK-HMAC-SHA256 nonsense"])))
            for (name, reply) in cases {
                #expect(reply.status == .unauthorized, "\(name)")
                #expect(reply.errorCode == "APIGW.0301", "\(name)")
                #expect(reply.json["request_id"] as? String == reply.requestID, "\(name)")
            }
            #expect((cases[2].1.json["error_msg"] as? String)?.contains("ak not exist") == true)
            let fresh = try await server.signed(.get, uri, date: Date().addingTimeInterval(-14 * 60))
            #expect(fresh.status == .ok)
        }
    }

    @Test("Five consecutive failures lock the AK for five minutes, even for a correct signature")
    func lockout() async throws {
        let now = Clock()
        try await TestServer.run(clock: { now.value }) { server in
            let service = IdentityService(store: server.parts.store.identities, hasher: PasswordHasher(iterations: 1000))
            let key = try await service.createAccessKey(userName: "admin", now: Date())
            let uri = "/v2/\(server.projectID)/instances"
            for _ in 0..<4 {
                #expect(try await server.signed(.get, uri, accessKey: key.accessKey, secretKey: "bad").status == .unauthorized)
            }
            #expect(try await server.signed(.get, uri, accessKey: key.accessKey, secretKey: key.secretKey).status == .ok)
            for attempt in 0..<5 {
                let reply = try await server.signed(.get, uri, accessKey: key.accessKey, secretKey: "bad")
                #expect(reply.status == .unauthorized)
                if attempt == 4 { #expect((reply.json["error_msg"] as? String)?.contains("limit") == true) }
            }
            let locked = try await server.signed(.get, uri, accessKey: key.accessKey, secretKey: key.secretKey)
            #expect(locked.status == .unauthorized)
            #expect((locked.json["error_msg"] as? String)?.contains("limit") == true)
            #expect(try await server.signed(.get, uri).status == .ok, "other AKs are not affected")
            now.advance(301)
            #expect(try await server.signed(.get, uri, accessKey: key.accessKey, secretKey: key.secretKey, date: now.value).status == .ok)
        }
    }

    @Test(
        "Five wrong passwords lock the user for 15 minutes, even for the right password; a success resets the count",
        arguments: TestDatabase.available)
    func passwordLockout(database: TestDatabase) async throws {
        let now = Clock()
        try await TestServer.run(database: database, clock: { now.value }) { server in
            let service = IdentityService(store: server.parts.store.identities, hasher: PasswordHasher(iterations: 1000))
            _ = try await service.createUser(name: "carol", password: "carol-password", projectID: server.projectID, now: Date())
            for _ in 0..<4 { #expect(try await server.token(password: "wrong-password").errorCode == "IAM.0004") }
            #expect(try await server.token().status == .created, "four failures do not lock, and a success resets the count")
            for _ in 0..<5 {
                let wrong = try await server.token(password: "wrong-password")
                #expect(wrong.status == .unauthorized)
                #expect(wrong.errorCode == "IAM.0004")
            }
            let locked = try await server.token()
            #expect(locked.status == .unauthorized)
            #expect(locked.errorCode == "IAM.0005")
            #expect((locked.json["error_msg"] as? String)?.contains("locked") == true)
            #expect(try await server.token(password: "wrong-password").errorCode == "IAM.0005")
            #expect(try await server.token(user: "carol", password: "carol-password").status == .created, "other users are not affected")
            #expect(try await server.signed(.get, "/v2/\(server.projectID)/instances", date: now.value).status == .ok, "AK/SK is not affected")

            now.advance(IdentityService.loginLockDuration - 1)
            #expect(try await server.token().errorCode == "IAM.0005", "still locked a second before the lock ends")
            now.advance(2)
            #expect(try await server.token().status == .created)
            for _ in 0..<4 { _ = try await server.token(password: "wrong-password") }
            #expect(try await server.token().status == .created, "the count starts again after a lock")
        }
    }

    @Test("Racing wrong passwords: exactly five are checked, every other attempt meets the lock", arguments: TestDatabase.available)
    func passwordLockoutRace(database: TestDatabase) async throws {
        try await TestServer.run(database: database) { server in
            let codes = try await withThrowingTaskGroup(of: String?.self) { group in
                for _ in 0..<12 { group.addTask { try await server.token(password: "wrong-password").errorCode } }
                return try await group.reduce(into: [String?]()) { $0.append($1) }
            }
            #expect(codes.filter { $0 == "IAM.0004" }.count == 5)
            #expect(codes.filter { $0 == "IAM.0005" }.count == 7)
            #expect(try await server.token().errorCode == "IAM.0005", "the right password too")
        }
    }

    @Test("Another project's path is refused with DCS.1004; a malformed project id is DCS.4002")
    func projectScope() async throws {
        try await TestServer.run { server in
            let other = Identifiers.hex32()
            let reply = try await server.signed(.get, "/v2/\(other)/instances")
            #expect(reply.status == .unauthorized)
            #expect(reply.errorCode == "DCS.1004")
            let literal = try await server.signed(.get, "/v2/%7Bproject_id%7D/instances", projectHeader: "")
            #expect(literal.status == .badRequest)
            #expect(literal.errorCode == "DCS.4002")
        }
    }

    @Test("Tokens: 201 with X-Subject-Token, usable on DCS routes, validated, and revoked by a password change")
    func tokens() async throws {
        try await TestServer.run { server in
            let created = try await server.token()
            #expect(created.status == .created)
            let token = try #require(created.headers[HTTPField.Name("X-Subject-Token")!])
            let body = try #require(created.json["token"] as? [String: Any])
            #expect((body["project"] as? [String: Any])?["id"] as? String == server.projectID)
            let expires = try #require(body["expires_at"] as? String)
            #expect(expires.count == "2020-01-04T09:08:49.965000Z".count && expires.hasSuffix("000Z"))
            #expect(try await server.withToken(.get, "/v2/\(server.projectID)/instances", token: token).status == .ok)

            var validate = HTTPFields()
            validate[HTTPField.Name("X-Auth-Token")!] = token
            validate[HTTPField.Name("X-Subject-Token")!] = token
            #expect(try await server.raw(.get, "/v3/auth/tokens", headers: validate).status == .ok)

            #expect(try await server.token(password: "wrong-password").status == .unauthorized)
            #expect(try await server.token(user: "nobody").errorCode == "IAM.0004")

            let service = IdentityService(store: server.parts.store.identities, hasher: PasswordHasher(iterations: 1000))
            try await Task.sleep(for: .milliseconds(5))
            try await service.changePassword(userName: "admin", password: "another-password", now: Date())
            let revoked = try await server.withToken(.get, "/v2/\(server.projectID)/instances", token: token)
            #expect(revoked.status == .unauthorized)
            #expect(revoked.errorCode == "APIGW.0301")
            #expect(try await server.token(password: "another-password").status == .created)
            #expect(try await server.withToken(.get, "/v2/\(server.projectID)/instances", token: "MIIforged.token").status == .unauthorized)
        }
    }

    @Test("A deleted user's token stops working at once")
    func deletedUser() async throws {
        try await TestServer.run { server in
            let service = IdentityService(store: server.parts.store.identities, hasher: PasswordHasher(iterations: 1000))
            let user = try await service.createUser(name: "carol", password: "carol-password", projectID: server.projectID, now: Date())
            let token = try #require(try await server.token(user: "carol", password: "carol-password").headers[HTTPField.Name("X-Subject-Token")!])
            #expect(try await server.withToken(.get, "/v2/\(server.projectID)/instances", token: token).status == .ok)
            try await server.parts.store.identities.deleteUser(id: user.id)
            #expect(try await server.withToken(.get, "/v2/\(server.projectID)/instances", token: token).status == .unauthorized)
        }
    }

    @Test("GET /v3/projects shows the caller's project only")
    func projects() async throws {
        try await TestServer.run { server in
            let mine = try await server.signed(.get, "/v3/projects?name=local-1")
            #expect(mine.status == .ok)
            let projects = try #require(mine.json["projects"] as? [[String: Any]])
            #expect(projects.map { $0["id"] as? String } == [server.projectID])
            let other = try await server.signed(.get, "/v3/projects?name=elsewhere")
            #expect((other.json["projects"] as? [Any])?.isEmpty == true)
        }
    }
}

/// A settable clock for lockout and expiry tests.
final class Clock: Sendable {
    private let current = Mutex(Date())
    var value: Date { self.current.withLock { $0 } }
    func advance(_ seconds: TimeInterval) { self.current.withLock { $0 = $0.addingTimeInterval(seconds) } }
}
