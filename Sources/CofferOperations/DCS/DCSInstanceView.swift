import CofferCore

/// An instance as the API shows it: what is stored, what the server says now, and what runs on it.
package struct DCSInstanceView: Sendable {
    package var instance: DCSInstance
    /// Live facts; nil when the server could not be reached.
    package var facts: RedisFacts?
    /// What occupies the instance, nil when idle.
    package var activity: Activity?
}

/// The changes `PUT /v2/{project_id}/instances/{instance_id}` asks for; nil fields stay as they are.
package struct DCSInstanceChanges: Sendable {
    package var name: String?
    package var description: String?
    package var port: Int?
    package var backupPolicy: BackupPolicy?
    /// Accepted fields Coffer only keeps and shows back (`maintain_begin`, `rename_commands`, …).
    package var extra: [String: JSONValue] = [:]

    package init() {}
}
