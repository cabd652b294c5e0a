import CofferCore
import CofferIAM
import CofferServer
import CofferStorage
import CofferTestSupport
import Foundation
import HTTPTypes
import NIOCore
import HummingbirdTesting
import Logging
import Testing

@Suite("First start", .timeLimit(.minutes(1)))
struct BootstrapTests {
    @Test("The first start writes bootstrap.json (0600) with the given values; files are private; a restart keeps the account")
    func firstStart() async throws {
        let directory = try TemporaryDirectory(prefix: "coffer-bootstrap")
        defer { directory.remove() }
        var configuration = CofferConfiguration()
        configuration.dataDirectory = directory.path
        configuration.announcesFirstStart = false
        configuration.readEnvironment([
            "COFFER_ADMIN_PASSWORD": "first-password", "COFFER_ADMIN_ACCESS_KEY": "AKFIRST", "COFFER_ADMIN_SECRET_KEY": "SKFIRST",
        ])
        var logger = Logger(label: "coffer.test")
        logger.logLevel = .critical
        let (app, _) = try await CofferApp.build(configuration, logger: logger, hasher: PasswordHasher(iterations: 1000))
        try await app.test(.router) { _ in }
        let path = directory.path + "/bootstrap.json"
        let account = try JSONDecoder().decode(IdentityService.Bootstrap.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(account.accessKey == "AKFIRST")
        #expect(account.secretKey == "SKFIRST")
        #expect(account.password == "first-password")
        #expect(account.domain == "coffer" && account.user == "admin" && account.projectName == "local-1")
        #expect(Identifiers.isHex32(account.projectID))
        for file in ["bootstrap.json", "master.key", "coffer.sqlite"] {
            let mode = try FileManager.default.attributesOfItem(atPath: directory.path + "/" + file)[.posixPermissions] as? NSNumber
            #expect(mode?.intValue == 0o600, "\(file)")
        }

        // A second start with other values changes nothing: the account exists.
        configuration.readEnvironment(["COFFER_ADMIN_ACCESS_KEY": "AKSECOND"])
        let (second, again) = try await CofferApp.build(configuration, logger: logger, hasher: PasswordHasher(iterations: 1000))
        try await second.test(.router) { _ async throws in
            #expect(try await again.store.identities.accessKey("AKSECOND") == nil)
            #expect(try await again.store.identities.accessKey("AKFIRST")?.secretKey == "SKFIRST")
        }
    }

    @Test("Without environment values the password and keys are generated")
    func generated() async throws {
        let directory = try TemporaryDirectory(prefix: "coffer-bootstrap")
        defer { directory.remove() }
        var configuration = CofferConfiguration()
        configuration.dataDirectory = directory.path
        configuration.announcesFirstStart = false
        configuration.readEnvironment([:])
        var logger = Logger(label: "coffer.test")
        logger.logLevel = .critical
        let (app, _) = try await CofferApp.build(configuration, logger: logger, hasher: PasswordHasher(iterations: 1000))
        try await app.test(.router) { _ in }
        let account = try JSONDecoder().decode(
            IdentityService.Bootstrap.self, from: Data(contentsOf: URL(fileURLWithPath: directory.path + "/bootstrap.json")))
        #expect(account.password.count == 24)
        #expect(account.accessKey.count == 20)
        #expect(account.secretKey.count == 40)
    }
}
