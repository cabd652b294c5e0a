import Foundation

/// Where and as whom the client commands talk to a Coffer server: what `coffer login` saves.
///
/// Kept in a file of its own (mode 0600, directory 0700) because it holds the secret key; every other command
/// reads it and never prints the secret (`maskedSecretKey`).
struct ClientProfile: Codable, Sendable, Equatable {
    var endpoint: String
    var accessKey: String
    var secretKey: String
    var projectID: String

    enum CodingKeys: String, CodingKey {
        case endpoint
        case accessKey = "access_key"
        case secretKey = "secret_key"
        case projectID = "project_id"
    }

    /// The secret key as it may be shown: its first four characters, the rest starred.
    var maskedSecretKey: String { Self.mask(self.secretKey) }

    static func mask(_ secret: String) -> String {
        secret.count <= 4 ? String(repeating: "*", count: secret.count) : String(secret.prefix(4)) + String(repeating: "*", count: 8)
    }

    /// `--profile`, else `COFFER_PROFILE`, else `~/.config/coffer/profile.json` (`$XDG_CONFIG_HOME` when set).
    static func path(option: String?, environment: [String: String]) -> String {
        if let option, !option.isEmpty { return option }
        if let value = environment["COFFER_PROFILE"], !value.isEmpty { return value }
        let config = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.config")
        return config + "/coffer/profile.json"
    }

    static func load(path: String) throws -> ClientProfile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ClientError.usage("no profile at \(path): run `coffer login` first (or pass --profile / set COFFER_PROFILE)")
        }
        do {
            return try JSONDecoder().decode(ClientProfile.self, from: data)
        } catch {
            throw ClientError.usage("the profile \(path) is not a valid profile: \(error)")
        }
    }

    /// Writes the profile so that no other user can read it at any moment: a temporary file created with mode
    /// 0600 in the same directory, then renamed over the old one.
    func save(path: String) throws {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(self) + Data("\n".utf8)
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_TRUNC, 0o600)
        guard fd >= 0 else { throw ClientError.usage("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        do {
            try handle.write(contentsOf: data)
            try handle.synchronize()
            try handle.close()
            guard rename(temporary, path) == 0 else { throw ClientError.usage("cannot rename \(temporary) to \(path): \(String(cString: strerror(errno)))") }
        } catch {
            unlink(temporary)
            throw error
        }
    }
}
