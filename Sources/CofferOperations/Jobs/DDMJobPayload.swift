import Foundation

/// The payload of DDM jobs: which backup, the instance name for the job views (the instance may be
/// deleted by the time the job is read), and for an instance delete whether the shard databases go too.
package struct DDMJobPayload: Codable, Sendable {
    package var backupID: String?
    package var instanceID: String
    package var instanceName: String
    /// `ddm.instance.delete`: drop the shard databases on the data nodes (`delete_rds_data`).
    package var dropData: Bool?

    package init(backupID: String? = nil, instanceID: String, instanceName: String, dropData: Bool? = nil) {
        self.backupID = backupID
        self.instanceID = instanceID
        self.instanceName = instanceName
        self.dropData = dropData
    }

    enum CodingKeys: String, CodingKey {
        case backupID = "backup_id"
        case instanceID = "instance_id"
        case instanceName = "instance_name"
        case dropData = "drop_data"
    }

    package var json: String {
        (try? String(decoding: JSONEncoder().encode(self), as: UTF8.self)) ?? "{}"
    }

    package static func decode(_ text: String) -> DDMJobPayload? {
        try? JSONDecoder().decode(DDMJobPayload.self, from: Data(text.utf8))
    }
}
