import CofferIAM
import CofferStorage
import Foundation
import Logging

/// First start: create the account and tell the user, once, how to use it (like MinIO's first start).
enum Bootstrap {
    static func run(store: CofferStore, configuration: CofferConfiguration, hasher: PasswordHasher, logger: Logger) async throws {
        let service = IdentityService(store: store.identities, hasher: hasher)
        guard
            let account = try await service.bootstrapIfEmpty(
                region: configuration.region, endpoint: configuration.endpoint, password: configuration.adminPassword,
                accessKey: configuration.adminAccessKey, secretKey: configuration.adminSecretKey, now: Date())
        else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let path = store.dataDirectory + "/bootstrap.json"
        try FileSystem.writeNew(path: path, contents: try encoder.encode(account) + Data("\n".utf8), mode: 0o600)
        logger.notice("Created the first account", metadata: ["file": "\(path)"])
        guard configuration.announcesFirstStart else { return }
        // Printed once, to standard output only: the log line above carries no secret.
        FileHandle.standardOutput.write(Data((
            """

            Coffer is ready. First-start account (also in \(path), mode 0600):
              endpoint    \(account.endpoint)
              domain      \(account.domain)
              user        \(account.user)
              password    \(account.password)
              project     \(account.projectName) (\(account.projectID))
              access key  \(account.accessKey)
              secret key  \(account.secretKey)

            Python SDK:
              creds = BasicCredentials("\(account.accessKey)", "<secret key>", "\(account.projectID)")
              client = DcsClient.new_builder().with_credentials(creds).with_endpoint("\(account.endpoint)").build()

            """ + "\n").utf8))
    }
}
