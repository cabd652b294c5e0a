import ArgumentParser
import CofferCore
import CofferIAM
import CofferStorage
import Foundation
import Logging

/// `coffer admin …`: account administration on the store directly; no server needs to run, and a
/// running server sees the change at once (it reads the store on every request).
struct Admin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage projects, users and access keys (prints JSON).", subcommands: [ProjectCommand.self, UserCommand.self, CredentialCommand.self])

    /// Options every admin command shares: where the store is.
    struct StoreOptions: ParsableArguments {
        @Option(help: "Data directory of the server.") var dataDir = "./coffer-data"
        @Option(help: "Database URL, as for `coffer serve`.") var database: String?

        /// Opens and runs the store (migrated) for the duration of `body`, then stops it.
        func withIdentityService<R: Sendable>(_ body: (IdentityService) async throws -> R) async throws -> R {
            var logger = Logger(label: "coffer.admin")
            logger.logLevel = .warning
            return try await CofferStore.withStore(dataDirectory: self.dataDir, databaseURL: self.database, logger: logger) { store in
                try await body(IdentityService(store: store.identities, hasher: PasswordHasher()))
            }
        }
    }

    /// Prints a JSON object on one line.
    static func printJSON(_ object: [String: String]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(object), as: UTF8.self))
    }

    /// Turns a domain error into a clean CLI failure.
    static func run(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as CofferError {
            throw ValidationError(error.message)
        }
    }
}

struct ProjectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "project", abstract: "Projects.", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a project; prints {id, name, domain_id}.")
        @Argument(help: "Project name (often a region name).") var name: String
        @OptionGroup var store: Admin.StoreOptions

        func run() async throws {
            try await Admin.run {
                let project = try await self.store.withIdentityService { try await $0.createProject(name: self.name, now: Date()) }
                try Admin.printJSON(["id": project.id, "name": project.name, "domain_id": project.domainID])
            }
        }
    }
}

struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "user", abstract: "Users.", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a user in a project; prints {id, name, project_id}.")
        @Argument(help: "User name.") var name: String
        @Option(help: "Password (at least 8 characters).") var password: String
        @Option(help: "Project id the user works in.") var project: String
        @OptionGroup var store: Admin.StoreOptions

        func run() async throws {
            try await Admin.run {
                let user = try await self.store.withIdentityService {
                    try await $0.createUser(name: self.name, password: self.password, projectID: self.project, now: Date())
                }
                try Admin.printJSON(["id": user.id, "name": user.name, "project_id": user.projectID])
            }
        }
    }
}

struct CredentialCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "credential", abstract: "Access keys (AK/SK).", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an AK/SK for a user; prints {access, secret, project_id, user}.")
        @Option(help: "User name.") var user: String
        @OptionGroup var store: Admin.StoreOptions

        func run() async throws {
            try await Admin.run {
                let (key, user) = try await self.store.withIdentityService { service in
                    (try await service.createAccessKey(userName: self.user, now: Date()), try await service.user(named: self.user))
                }
                try Admin.printJSON(["access": key.accessKey, "secret": key.secretKey, "project_id": user.projectID, "user": user.name])
            }
        }
    }
}
