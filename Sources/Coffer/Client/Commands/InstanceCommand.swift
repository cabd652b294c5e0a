import ArgumentParser
import CofferCore
import Foundation

/// `coffer instance …`: adopt servers, list what the project has.
struct InstanceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "instance", abstract: "Adopt Redis servers and MySQL/MariaDB data nodes; list instances.",
        subcommands: [Adopt.self, List.self])

    struct Adopt: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Adopt a Redis server (a DCS instance) or register a MySQL/MariaDB server (a DDM data node).",
            discussion: """
                redis://[:password@]host:port creates a DCS instance that backs up that server. \
                mysql://[user:password@]host:port registers a data node; the data node API stores no account \
                (DDM schemas carry theirs), so a user and password in the URL are only checked for form.
                """)

        @OptionGroup var options: ClientOptions
        @Argument(help: "redis://[:password@]host:port or mysql://user:password@host:port") var url: String
        @Option(help: "Name (default <engine>-<host>-<port>).") var name: String?

        func run() async throws {
            let target = try AdoptURL(self.url)
            let client = try self.options.client()
            let name = self.name ?? target.defaultName
            let response: APIResponse
            switch target.engine {
            case .redis:
                var body: [String: JSONValue] = [
                    "name": .string(name), "engine": .string("Redis"), "engine_version": .string("7.0"), "capacity": .number(1),
                    "spec_code": .string("redis.ha.xu1.large.r2.1"), "az_codes": .array([.string("az1")]), "vpc_id": .string("vpc"),
                    "subnet_id": .string("subnet"), "private_ip": .string(target.host), "port": .number(Double(target.port)),
                ]
                if let password = target.password { body["password"] = .string(password) } else { body["no_password_access"] = .bool(true) }
                response = try await client.send(.POST, client.path("v2", "/instances"), body: .object(body))
            case .mysql:
                response = try await client.send(
                    .POST, client.path("v3", "/data-nodes"),
                    body: .object(["name": .string(name), "private_ip": .string(target.host), "port": .number(Double(target.port))]))
            }
            if self.options.json { return self.options.printJSON(response) }
            let json = try response.json()
            let id = json["instances"]?.arrayValue.first?["instance_id"]?.text ?? json["instance_id"]?.text ?? json["id"]?.text ?? "?"
            print("Adopted \(AdoptURL.masked(self.url)) as \(target.engine == .redis ? "DCS instance" : "data node") \(name): \(id)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List DCS instances, DDM instances and data nodes.")

        @OptionGroup var options: ClientOptions

        func run() async throws {
            let client = try self.options.client()
            let dcs = try await client.send(.GET, client.path("v2", "/instances"), query: [("offset", "0"), ("limit", "1000")])
            let ddm = try await client.send(.GET, client.path("v1", "/instances"), query: [("offset", "0"), ("limit", "128")])
            let nodes = try await client.send(.GET, client.path("v3", "/data-nodes"), query: [("offset", "0"), ("limit", "128")])
            let (dcsJSON, ddmJSON, nodesJSON) = (try dcs.json(), try ddm.json(), try nodes.json())
            if self.options.json {
                return self.options.printJSON(.object(["dcs": dcsJSON, "ddm": ddmJSON, "data_nodes": nodesJSON]))
            }
            var table = TextTable("KIND", "ID", "NAME", "STATUS", "ADDRESS", "TASK")
            for instance in dcsJSON["instances"]?.arrayValue ?? [] {
                table.add(
                    "dcs", instance["instance_id"]?.text ?? "", instance["name"]?.text ?? "", instance["status"]?.text ?? "",
                    "\(instance["ip"]?.text ?? ""):\(instance["port"]?.text ?? "")", instance["task"]?.text ?? "")
            }
            for instance in ddmJSON["instances"]?.arrayValue ?? [] {
                table.add("ddm", instance["id"]?.text ?? "", instance["name"]?.text ?? "", instance["status"]?.text ?? "", "", "")
            }
            for node in nodesJSON["data_nodes"]?.arrayValue ?? [] {
                table.add(
                    "data-node", node["id"]?.text ?? "", node["name"]?.text ?? "", node["status"]?.text ?? "",
                    "\(node["private_ip"]?.text ?? ""):\(node["port"]?.text ?? "")", "")
            }
            print(table.render())
        }
    }
}
