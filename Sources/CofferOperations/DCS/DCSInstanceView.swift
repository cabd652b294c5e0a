import CofferCore

/// An instance as the API shows it: what is stored, what the server says now, and what runs on it.
package struct DCSInstanceView: Sendable {
    package var instance: DCSInstance
    /// Live facts; nil when the server could not be reached.
    package var facts: RedisFacts?
    /// What occupies the instance, nil when idle.
    package var activity: Activity?
    /// The deployment: read now for show, as last stored for list; nil when never read.
    package var topology: DCSTopology?

    package init(instance: DCSInstance, facts: RedisFacts?, activity: Activity?, topology: DCSTopology? = nil) {
        self.instance = instance
        self.facts = facts
        self.activity = activity
        self.topology = topology ?? instance.topology
    }
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
