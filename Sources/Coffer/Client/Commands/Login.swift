import ArgumentParser
import CofferCore
import Foundation

/// `coffer login`: checks an endpoint and AK/SK against the server and saves them as the profile.
struct Login: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Save the endpoint, access key, secret key and project the other commands use.",
        discussion: """
            Each value comes from its flag, else its environment variable (COFFER_ENDPOINT, COFFER_AK, COFFER_SK, \
            COFFER_PROJECT), else the --bootstrap file (the bootstrap.json a server writes in its data directory on \
            first start). The credentials are checked with one signed request before the profile (mode 0600) is written.
            """)

    @Option(help: "A bootstrap.json written by `coffer serve` on first start.") var bootstrap: String?
    @Option(help: "Server URL, e.g. http://127.0.0.1:8080.") var endpoint: String?
    @Option(help: "Access key (AK).") var accessKey: String?
    @Option(help: "Secret key (SK); prefer COFFER_SK or --bootstrap, which keep it out of the process list.") var secretKey: String?
    @Option(help: "Project id.") var project: String?
    @Option(help: "Profile file to write (default $COFFER_PROFILE or ~/.config/coffer/profile.json).") var profile: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var fromFile: [String: String] = [:]
        if let bootstrap = self.bootstrap {
            guard let data = FileManager.default.contents(atPath: bootstrap),
                case .object(let object)? = try? JSONDecoder().decode(JSONValue.self, from: data)
            else { throw ClientError.usage("cannot read \(bootstrap) as a bootstrap.json") }
            for (key, value) in object { if let text = value.stringValue { fromFile[key] = text } }
        }
        func pick(_ flag: String?, _ variable: String, _ key: String, _ name: String) throws -> String {
            if let flag, !flag.isEmpty { return flag }
            if let value = environment[variable], !value.isEmpty { return value }
            if let value = fromFile[key], !value.isEmpty { return value }
            throw ClientError.usage("no \(name): pass --\(name), set \(variable) or use --bootstrap FILE")
        }
        let profile = ClientProfile(
            endpoint: try pick(self.endpoint, "COFFER_ENDPOINT", "endpoint", "endpoint"),
            accessKey: try pick(self.accessKey, "COFFER_AK", "access_key", "access-key"),
            secretKey: try pick(self.secretKey, "COFFER_SK", "secret_key", "secret-key"),
            projectID: try pick(self.project, "COFFER_PROJECT", "project_id", "project"))
        let client = try CofferClient(profile: profile)
        // One signed call: wrong keys, a wrong project or a dead endpoint fail here, not at the first real command.
        _ = try await client.send(.GET, client.path("v2", "/instances"), query: [("offset", "0"), ("limit", "1")])
        let path = ClientProfile.path(option: self.profile, environment: environment)
        try profile.save(path: path)
        print("Logged in to \(profile.endpoint) as \(profile.accessKey) (secret key \(profile.maskedSecretKey)), project \(profile.projectID).")
        print("Profile saved to \(path) (mode 0600).")
    }
}
