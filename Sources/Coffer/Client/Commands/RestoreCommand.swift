import ArgumentParser
import CofferCore
import Foundation

/// `coffer restore BACKUP`: a DCS restore into the backup's own instance, or with `--into` into another
/// instance of the project (a `backupfile_import` migration task, the same restore job).
struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore", abstract: "Restore a Redis (DCS) backup; overwrites the target's whole dataset.")

    @OptionGroup var options: ClientOptions
    @OptionGroup var waiting: WaitOptions
    @Argument(help: "The backup id.") var backup: String
    @Option(help: "Restore into this instance instead of the backup's own.") var into: String?
    @Option(help: "The backup's instance id (default: found by searching the project's instances).") var instance: String?
    @Option(help: "A remark (at most 128 characters).") var remark: String?

    func run() async throws {
        let client = try self.options.client()
        let (source, record) = try await ResourceLookup(client: client).findDCSBackup(self.backup, instanceID: self.instance)
        let size = record["size"]?.doubleValue.map { Int64($0) }
        let waiter = JobWaiter(client: client, deadline: self.waiting.deadline, progressToStandardError: self.options.json)
        if let target = self.into, target != source {
            var body: [String: JSONValue] = [
                "task_name": .string("coffer-restore-\(self.backup.prefix(8))"), "migration_type": .string("backupfile_import"),
                "migration_method": .string("full_amount_migration"),
                "backup_files": .object(["file_source": .string("backup_record"), "backup_id": .string(self.backup)]),
                "target_instance": .object(["id": .string(target)]),
            ]
            if let remark = self.remark { body["description"] = .string(remark) }
            let response = try await client.send(.POST, client.path("v2", "/migration-task"), body: .object(body))
            guard let taskID = try response.json()["id"]?.stringValue else { throw ClientError.transport("the answer names no task id") }
            guard self.waiting.wait else {
                return self.options.json
                    ? self.options.printJSON(response) : print("Restore of backup \(self.backup) into instance \(target) queued (task \(taskID)).")
            }
            let task = try await waiter.migration(taskID: taskID)
            if self.options.json { self.options.printJSON(task) }
            return
        }
        var body: [String: JSONValue] = ["backup_id": .string(self.backup)]
        if let remark = self.remark { body["remark"] = .string(remark) }
        let response = try await client.send(.POST, client.path("v2", "/instances/\(source)/restores"), body: .object(body))
        guard let restoreID = try response.json()["restore_id"]?.stringValue else { throw ClientError.transport("the answer names no restore_id") }
        guard self.waiting.wait else {
            return self.options.json
                ? self.options.printJSON(response) : print("Restore \(restoreID) of backup \(self.backup) into instance \(source) queued.")
        }
        let restored = try await waiter.dcsRestore(instanceID: source, restoreID: restoreID, backupSize: size)
        if self.options.json { self.options.printJSON(restored) }
    }
}
