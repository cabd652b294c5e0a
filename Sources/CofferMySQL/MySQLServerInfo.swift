/// What the initial handshake says about a server: enough to show a data node's engine and version
/// without running a statement.
package struct MySQLServerInfo: Sendable, Equatable {
    /// The raw version string, e.g. `5.5.5-10.11.19-MariaDB-0+deb12u1` or `8.0.36`.
    package var serverVersion: String
    /// The server's thread id for this connection.
    package var connectionID: UInt32

    package init(serverVersion: String, connectionID: UInt32) {
        self.serverVersion = serverVersion
        self.connectionID = connectionID
    }

    /// `mariadb` or `mysql`, as DDM's `engine_name` spells them.
    package var engineName: String { self.serverVersion.lowercased().contains("mariadb") ? "mariadb" : "mysql" }

    /// `10.11.19`: the replication-compatibility prefix `5.5.5-` MariaDB sends is dropped, as is the build suffix.
    package var engineVersion: String {
        var text = Substring(self.serverVersion)
        if text.hasPrefix("5.5.5-") { text = text.dropFirst(6) }
        return String(text.prefix { $0 != "-" })
    }
}
