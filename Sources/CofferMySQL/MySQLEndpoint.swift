/// Where a MySQL-compatible server listens and whom to log in as.
package struct MySQLEndpoint: Sendable, Equatable {
    package var host: String
    package var port: Int
    package var user: String
    package var password: String

    package init(host: String, port: Int, user: String, password: String) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
    }

    /// `host:port`, for messages.
    package var address: String { "\(self.host):\(self.port)" }
}
