/// Where a Redis server listens and how to authenticate to it.
///
/// The connection layer takes one value instead of four loose parameters so that callers (the
/// instance registry, the backup engine, tests) pass a single thing around. `description` redacts the
/// password because endpoints end up in log lines and error messages.
package struct RedisEndpoint: Sendable, Hashable {
    /// Host name or IP address of the server.
    package var host: String
    /// TCP port of the server (6379 by default for Redis).
    package var port: Int
    /// ACL user name (Redis 6+); `nil` authenticates as the `default` user with `AUTH <password>`.
    package var username: String?
    /// Password sent with `AUTH`; `nil` means no `AUTH` is sent.
    package var password: String?

    /// Creates an endpoint.
    ///
    /// - Parameters:
    ///   - host: Host name or IP address.
    ///   - port: TCP port.
    ///   - username: ACL user, or `nil` for the `default` user.
    ///   - password: Password, or `nil` when the server needs none.
    package init(host: String, port: Int = 6379, username: String? = nil, password: String? = nil) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
    }
}

extension RedisEndpoint: CustomStringConvertible, CustomDebugStringConvertible {
    /// `user@host:port`, never the password, so that logging an endpoint cannot leak a secret.
    package var description: String {
        let user = self.username.map { "\($0)@" } ?? ""
        let secret = self.password == nil ? "" : " (password set)"
        return "\(user)\(self.host):\(self.port)\(secret)"
    }

    /// Same as `description`: `String(reflecting:)` must not leak the password either.
    package var debugDescription: String {
        "RedisEndpoint(\(self.description))"
    }
}
