import Foundation

/// A MySQL-compatible server registered as a DDM data node (Huawei: an RDS instance, id suffix `in01`).
package struct DataNode: Sendable, Equatable {
    package var id: String
    package var projectID: String
    package var name: String
    package var host: String
    package var port: Int
    /// From the server's handshake: `mariadb` or `mysql`.
    package var engineName: String
    /// From the handshake, e.g. `10.11.19`.
    package var engineVersion: String
    package var createdAt: Date

    package init(id: String, projectID: String, name: String, host: String, port: Int, engineName: String, engineVersion: String, createdAt: Date) {
        self.id = id
        self.projectID = projectID
        self.name = name
        self.host = host
        self.port = port
        self.engineName = engineName
        self.engineVersion = engineVersion
        self.createdAt = createdAt
    }

    /// `host:port`.
    package var address: String { "\(self.host):\(self.port)" }
}
