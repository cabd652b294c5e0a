import Foundation

/// The payload of DDM jobs: which backup, and the instance name for the job views (the instance may be
/// deleted by the time the job is read).
struct DDMJobPayload: Codable, Sendable {
    var backupID: String?
    var instanceID: String
    var instanceName: String

    enum CodingKeys: String, CodingKey {
        case backupID = "backup_id"
        case instanceID = "instance_id"
        case instanceName = "instance_name"
    }

    var json: String {
        (try? String(decoding: JSONEncoder().encode(self), as: UTF8.self)) ?? "{}"
    }

    static func decode(_ text: String) -> DDMJobPayload? {
        try? JSONDecoder().decode(DDMJobPayload.self, from: Data(text.utf8))
    }
}
