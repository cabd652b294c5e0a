import Foundation

/// `redis://[:password@]host:port` or `mysql://[user:password@]host:port`: what `coffer instance adopt` adopts.
struct AdoptURL: Equatable {
    enum Engine: String { case redis, mysql }

    var engine: Engine
    var host: String
    var port: Int
    var user: String?
    var password: String?

    init(_ text: String) throws {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            let engine = Engine(rawValue: scheme == "mariadb" ? "mysql" : scheme)
        else { throw ClientError.usage("expected redis://[:password@]host:port or mysql://user:password@host:port, got \(Self.masked(text))") }
        guard let host = components.host, !host.isEmpty else { throw ClientError.usage("\(Self.masked(text)) names no host") }
        guard components.path.isEmpty || components.path == "/", components.query == nil else {
            throw ClientError.usage("\(Self.masked(text)): only scheme, credentials, host and port are allowed")
        }
        self.engine = engine
        self.host = host
        self.port = components.port ?? (engine == .redis ? 6379 : 3306)
        guard (1...65535).contains(self.port) else { throw ClientError.usage("port \(self.port) is out of range") }
        self.user = components.user.flatMap { $0.isEmpty ? nil : $0 }
        self.password = components.password.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The URL with any password starred, for messages.
    static func masked(_ text: String) -> String {
        guard var components = URLComponents(string: text), components.password != nil else { return text }
        components.password = "****"
        return components.string ?? "<url>"
    }

    /// A name the DCS and DDM APIs accept: letters, digits, `-` and `_`, 4 to 64 characters.
    var defaultName: String {
        let raw = "\(self.engine.rawValue)-\(self.host)-\(self.port)"
        let cleaned = String(raw.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "-" })
        return String(cleaned.prefix(64))
    }
}
