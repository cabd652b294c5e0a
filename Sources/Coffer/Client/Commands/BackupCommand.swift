import ArgumentParser
import CofferCore
import Foundation

/// `coffer backup …`: DCS (Redis) backups.
struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup", abstract: "Back up Redis (DCS) instances, list and download backups.",
        subcommands: [Create.self, List.self, Download.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Back up a DCS instance now.")

        @OptionGroup var options: ClientOptions
        @OptionGroup var waiting: WaitOptions
        @Argument(help: "The instance id.") var instance: String
        @Option(help: "A remark (at most 128 characters).") var remark: String?
        @Option(help: "rdb or aof.") var format: String?

        func run() async throws {
            let client = try self.options.client()
            var body: [String: JSONValue] = [:]
            if let remark = self.remark { body["remark"] = .string(remark) }
            if let format = self.format { body["backup_format"] = .string(format) }
            let response = try await client.send(
                .POST, client.path("v2", "/instances/\(self.instance)/backups"), body: body.isEmpty ? nil : .object(body))
            let json = try response.json()
            guard let backupID = json["backup_id"]?.stringValue else { throw ClientError.transport("the answer names no backup_id") }
            guard self.waiting.wait else {
                return self.options.json ? self.options.printJSON(response) : print("Backup \(backupID) queued on instance \(self.instance).")
            }
            let record = try await JobWaiter(client: client, deadline: self.waiting.deadline, progressToStandardError: self.options.json).dcsBackup(instanceID: self.instance, backupID: backupID)
            if self.options.json { self.options.printJSON(record) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a DCS instance's backups, newest first.")

        @OptionGroup var options: ClientOptions
        @Argument(help: "The instance id.") var instance: String
        @Option(help: "At most this many (1–1000).") var limit = 100

        func run() async throws {
            let client = try self.options.client()
            let response = try await client.send(
                .GET, client.path("v2", "/instances/\(self.instance)/backups"), query: [("offset", "0"), ("limit", "\(self.limit)")])
            if self.options.json { return self.options.printJSON(response) }
            var table = TextTable("BACKUP", "NAME", "STATUS", "PROGRESS", "SIZE", "FORMAT", "CREATED", "ERROR")
            for record in try response.json()["backup_record_response"]?.arrayValue ?? [] {
                table.add(
                    record["backup_id"]?.text ?? "", record["backup_name"]?.text ?? "", record["status"]?.text ?? "",
                    (record["progress"]?.text ?? "") + "%", record["size"]?.doubleValue.map { ByteFormat.size($0) } ?? "",
                    record["backup_format"]?.text ?? "", record["created_at"]?.text ?? "", record["error_code"]?.text ?? "")
            }
            print(table.render())
        }
    }

    struct Download: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download a backup's file (asks for a short-lived link, then streams it; the size is checked).")

        @OptionGroup var options: ClientOptions
        @Argument(help: "The backup id.") var backup: String
        @Option(name: .shortAndLong, help: "Output file (default: the file name the server gives).") var output: String?
        @Option(help: "The backup's instance id (default: found by searching the project's instances).") var instance: String?

        func run() async throws {
            let client = try self.options.client()
            let (instanceID, record) = try await ResourceLookup(client: client).findDCSBackup(self.backup, instanceID: self.instance)
            let answer = try await client.send(
                .POST, client.path("v2", "/instances/\(instanceID)/backups/\(self.backup)/links"), body: .object(["expiration": .number(600)]))
            guard let link = try answer.json()["links"]?.arrayValue.first, let url = link["link"]?.stringValue else {
                throw ClientError.transport("the server gave no download link for backup \(self.backup)")
            }
            let file = self.output ?? link["file_name"]?.stringValue ?? "\(self.backup).rdb"
            let expected = record["size"]?.doubleValue.map { Int64($0) }
            let reporter = ProgressReporter(label: "download \(self.backup.prefix(8))", toStandardError: self.options.json)
            var lastUpdate = Date.distantPast
            let written = try await client.download(link: url, to: file, expectedSize: expected) { bytes, total in
                let now = Date()
                guard now.timeIntervalSince(lastUpdate) >= 0.2 || bytes == total else { return }
                lastUpdate = now
                reporter.update(status: "downloading", fraction: nil, bytes: bytes, total: total)
            }
            reporter.finish("Downloaded backup \(self.backup) to \(file), \(ByteFormat.size(written)) (\(written) bytes, size checked)")
            if self.options.json {
                self.options.printJSON(.object(["backup_id": .string(self.backup), "file": .string(file), "size": .number(Double(written))]))
            }
        }
    }
}
