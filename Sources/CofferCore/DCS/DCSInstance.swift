import Foundation

/// A DCS instance. In Coffer an instance *adopts* a Redis server that already runs: Coffer stores
/// its address and password and backs it up; it never provisions servers.
package struct DCSInstance: Sendable, Equatable {
    package var id: String
    package var projectID: String
    package var name: String
    package var engine: String
    /// The version the user asked for at create time; show/list report the server's real version.
    package var requestedEngineVersion: String?
    package var host: String
    package var port: Int
    /// Redis ACL user, when the server uses one (`access_user`).
    package var accessUser: String?
    /// Redis password in clear text (encrypted at rest by the store); nil for password-free access.
    package var password: String?
    package var description: String?
    package var status: String
    /// The requested capacity in GB, as given (`capacity` may be fractional, e.g. 0.125).
    package var capacityGB: Double
    package var specCode: String?
    package var backupPolicy: StoredBackupPolicy?
    /// Accepted fields Coffer has no use for (`vpc_id`, `az_codes`, …), kept as JSON to show them back.
    package var extra: [String: JSONValue]
    package var createdAt: Date
    package var updatedAt: Date
    /// The deployment last read from the servers (nil until first read: instances adopted before topologies).
    package var topology: DCSTopology?

    package init(
        id: String, projectID: String, name: String, engine: String, requestedEngineVersion: String?, host: String, port: Int,
        accessUser: String?, password: String?, description: String?, status: String, capacityGB: Double, specCode: String?,
        backupPolicy: StoredBackupPolicy?, extra: [String: JSONValue], createdAt: Date, updatedAt: Date,
        topology: DCSTopology? = nil
    ) {
        self.id = id
        self.projectID = projectID
        self.name = name
        self.engine = engine
        self.requestedEngineVersion = requestedEngineVersion
        self.host = host
        self.port = port
        self.accessUser = accessUser
        self.password = password
        self.description = description
        self.status = status
        self.capacityGB = capacityGB
        self.specCode = specCode
        self.backupPolicy = backupPolicy
        self.extra = extra
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.topology = topology
    }

    /// `host:port` as users write it.
    package var address: String { self.host.contains(":") ? "[\(self.host)]:\(self.port)" : "\(self.host):\(self.port)" }
}
