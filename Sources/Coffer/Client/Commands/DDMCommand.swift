import ArgumentParser
import CofferCore
import Foundation

/// `coffer ddm …`: DDM (sharded MySQL/MariaDB) backups and point-in-time recovery.
struct DDMCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ddm", abstract: "Back up DDM instances and recover them to a point in time.",
        subcommands: [Backup.self, Recover.self])

    struct Backup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "DDM backups.", subcommands: [Create.self, List.self])

        struct Create: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Take a consistent backup of every data node of a DDM instance.")

            @OptionGroup var options: ClientOptions
            @OptionGroup var waiting: WaitOptions
            @Argument(help: "The DDM instance id.") var instance: String
            @Option(help: "Backup name.") var name: String?
            @Option(help: "Description.") var description: String?

            func run() async throws {
                let client = try self.options.client()
                var body: [String: JSONValue] = [:]
                if let name = self.name { body["name"] = .string(name) }
                if let description = self.description { body["description"] = .string(description) }
                let response = try await client.send(
                    .POST, client.path("v3", "/instances/\(self.instance)/backups"), body: body.isEmpty ? nil : .object(body))
                let json = try response.json()
                guard let jobID = json["job_id"]?.stringValue else { throw ClientError.transport("the answer names no job_id") }
                let backupID = json["backup_id"]?.text ?? "?"
                guard self.waiting.wait else {
                    return self.options.json ? self.options.printJSON(response) : print("DDM backup \(backupID) queued (job \(jobID)).")
                }
                let job = try await JobWaiter(client: client, deadline: self.waiting.deadline, progressToStandardError: self.options.json).ddmJob(jobID: jobID, what: "DDM backup")
                if self.options.json { self.options.printJSON(.object(["backup_id": .string(backupID), "job": job])) }
            }
        }

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List a DDM instance's backups, newest first.")

            @OptionGroup var options: ClientOptions
            @Argument(help: "The DDM instance id.") var instance: String
            @Option(help: "At most this many (1–128).") var limit = 128

            func run() async throws {
                let client = try self.options.client()
                let response = try await client.send(
                    .GET, client.path("v3", "/backups"), query: [("instance_id", self.instance), ("offset", "0"), ("limit", "\(self.limit)")])
                if self.options.json { return self.options.printJSON(response) }
                var table = TextTable("BACKUP", "NAME", "STATUS", "SIZE", "TYPE", "CREATED")
                for backup in try response.json()["backups"]?.arrayValue ?? [] {
                    table.add(
                        backup["id"]?.text ?? "", backup["name"]?.text ?? "", backup["status"]?.text ?? "",
                        backup["file_size"]?.doubleValue.map { ByteFormat.size($0 * 1024) } ?? "", backup["backup_type"]?.text ?? "",
                        backup["created"]?.text ?? "")
                }
                print(table.render())
            }
        }
    }

    struct Recover: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recover a DDM instance's data, as it was at a point in time, into another DDM instance.")

        @OptionGroup var options: ClientOptions
        @OptionGroup var waiting: WaitOptions
        @Argument(help: "The source DDM instance id.") var instance: String
        @Option(help: "The point: RFC 3339 (2026-11-30T03:00:00.123Z) or epoch milliseconds.") var time: String
        @Option(help: "The target DDM instance id.") var into: String
        @Option(help: "SRC=DST: a source data node id onto a target data node id (repeat for each node).") var map: [String] = []

        func run() async throws {
            let client = try self.options.client()
            let milliseconds = try Self.epochMilliseconds(self.time)
            let relations: [JSONValue] = try self.map.map { pair in
                let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { throw ClientError.usage("--map expects SRC=DST, got \(pair)") }
                return .object(["source_instance_id": .string(parts[0]), "target_instance_id": .string(parts[1])])
            }
            guard !relations.isEmpty else { throw ClientError.usage("give at least one --map SRC=DST (source data node onto target data node)") }
            let body: JSONValue = .object([
                "source": .object(["instance_id": .string(self.instance), "restore_time": .number(Double(milliseconds))]),
                "target": .object(["instance_id": .string(self.into)]),
                "data_node_relations": .array(relations),
            ])
            let response = try await client.send(.POST, client.path("v3", "/instances/\(self.instance)/backups/recovery"), body: body)
            guard let jobID = try response.json()["job_id"]?.stringValue else { throw ClientError.transport("the answer names no job_id") }
            guard self.waiting.wait else {
                return self.options.json ? self.options.printJSON(response) : print("DDM recovery into \(self.into) queued (job \(jobID)).")
            }
            let job = try await JobWaiter(client: client, deadline: self.waiting.deadline, progressToStandardError: self.options.json).ddmJob(jobID: jobID, what: "DDM recovery")
            if self.options.json { self.options.printJSON(job) }
        }

        /// RFC 3339 with or without fractional seconds, or an integer of epoch milliseconds.
        static func epochMilliseconds(_ text: String) throws -> Int64 {
            if let value = Int64(text), value >= 0 { return value }
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            if let date = formatter.date(from: text) { return Int64((date.timeIntervalSince1970 * 1000).rounded()) }
            formatter.formatOptions = [.withInternetDateTime]
            if let date = formatter.date(from: text) { return Int64((date.timeIntervalSince1970 * 1000).rounded()) }
            throw ClientError.usage("--time: expected RFC 3339 (2026-11-30T03:00:00Z) or epoch milliseconds, got \(text)")
        }
    }
}
