import CofferCore
import Foundation

/// Finds records by id alone, so that `coffer backup download BACKUP` and `coffer restore BACKUP` need no
/// instance id: the DCS API addresses a backup under its instance, so the client looks through the project's
/// instances (one list call per instance; `--instance` skips the search).
struct ResourceLookup {
    let client: CofferClient

    /// Every DCS instance of the project (all pages).
    func dcsInstances() async throws -> [JSONValue] {
        var all: [JSONValue] = []
        var offset = 0
        while true {
            let page = try await self.client.send(.GET, self.client.path("v2", "/instances"), query: [("offset", "\(offset)"), ("limit", "1000")]).json()
            let instances = page["instances"]?.arrayValue ?? []
            all += instances
            offset += instances.count
            if instances.isEmpty || Double(offset) >= (page["instance_num"]?.doubleValue ?? 0) { return all }
        }
    }

    /// The backup record `backupID` of `instanceID`, or nil (pages through the instance's records, newest first).
    func dcsBackup(instanceID: String, backupID: String) async throws -> JSONValue? {
        try await self.dcsRecord(instanceID: instanceID, list: "/backups", key: "backup_record_response", idKey: "backup_id", id: backupID)
    }

    func dcsRestore(instanceID: String, restoreID: String) async throws -> JSONValue? {
        try await self.dcsRecord(instanceID: instanceID, list: "/restores", key: "restore_record_response", idKey: "restore_id", id: restoreID)
    }

    private func dcsRecord(instanceID: String, list: String, key: String, idKey: String, id: String) async throws -> JSONValue? {
        var offset = 0
        while true {
            let page = try await self.client.send(
                .GET, self.client.path("v2", "/instances/\(instanceID)\(list)"), query: [("offset", "\(offset)"), ("limit", "1000")]
            ).json()
            let records = page[key]?.arrayValue ?? []
            if let found = records.first(where: { $0[idKey]?.stringValue == id }) { return found }
            offset += records.count
            if records.isEmpty || Double(offset) >= (page["total_num"]?.doubleValue ?? 0) { return nil }
        }
    }

    /// The backup and its instance id: under `instanceID` when given, else searched in every instance.
    func findDCSBackup(_ backupID: String, instanceID: String?) async throws -> (instanceID: String, record: JSONValue) {
        let candidates: [String]
        if let instanceID {
            candidates = [instanceID]
        } else {
            candidates = try await self.dcsInstances().compactMap { $0["instance_id"]?.stringValue }
        }
        for candidate in candidates {
            if let record = try await self.dcsBackup(instanceID: candidate, backupID: backupID) { return (candidate, record) }
        }
        throw ClientError.usage("no backup \(backupID) in \(instanceID.map { "instance \($0)" } ?? "any instance of project \(self.client.profile.projectID)")")
    }
}
