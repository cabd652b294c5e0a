import CofferCore
import CofferOperations
import CofferServer
import CofferStorage
import CofferTestSupport
import Foundation
import HTTPTypes
import NIOCore
import Testing

/// `related-dn`, `restorable-instances` and `restorable-data-node` (reference 3.5a–c) over HTTP on both databases,
/// with instances, schemas, backups and archive segments written through the stores: the wire shapes of the SDK
/// models, which backup a time picks, every unavailable reason, paging, and the DDM error bodies.
@Suite("DDM restore helpers over HTTP", .serialized, .timeLimit(.minutes(1)))
struct DDMRestoreHelperAPITests {
    typealias W = DDMRestoreWindowAPITests

    static func node(projectID: String, name: String, engine: String = "mariadb") -> DataNode {
        DataNode(
            id: Identifiers.ddm(suffix: "in01"), projectID: projectID, name: name, host: "127.0.0.\(name.count)", port: 3306, engineName: engine,
            engineVersion: "10.11.6", createdAt: W.base)
    }

    static func schema(_ instance: DDMInstance, _ name: String, parts: [(DataNode, [String])]) -> DDMSchema {
        DDMSchema(
            projectID: instance.projectID, instanceID: instance.id, name: name, shardMode: "cluster", shardNumber: parts.count,
            parts: parts.map { DDMSchema.NodePart(nodeID: $0.0.id, adminUser: "u", adminPassword: "pw", databases: $0.1) }, createdAt: W.base)
    }

    static func ms(_ seconds: Double) -> Int64 { WireTime.epochMilliseconds(W.base.addingTimeInterval(seconds)) }

    @Test("related-dn, restorable-instances and restorable-data-node", arguments: TestDatabase.available)
    func helpers(database: TestDatabase) async throws {
        try await TestServer.run(database: database) { server in
            let p = server.projectID
            let ddm = server.parts.store.ddm
            let archive = server.parts.store.binlogs

            // Source: nodes a (archived up to +1800 s) and b (archived up to +3600 s), schema `shop`, a backup cut at +60 s
            // (window [60, 1800]) and a later one at +7200 s that also covers node c without archive (window [7200, 7200]).
            let (a, b, c) = (Self.node(projectID: p, name: "a"), Self.node(projectID: p, name: "bb"), Self.node(projectID: p, name: "ccc"))
            for node in [a, b, c] { try await ddm.insertDataNode(node) }
            let source = W.instance(projectID: p, name: "ddm-src")
            try await ddm.insertInstance(source)
            try await ddm.insertSchema(Self.schema(source, "shop", parts: [(a, ["shop_0000"]), (b, ["shop_0001"])]))
            var first = W.backup(source, at: 60, nodes: [(a.id, "bin.000001", 300), (b.id, "bin.000009", 200)])
            first.files[1].databases = ["shop_0001"]
            try await ddm.insertBackup(first)
            try await ddm.insertBackup(W.backup(source, at: 7200, nodes: [(a.id, "bin.000001", 900), (c.id, "", 0)]))
            for (node, file, last) in [(a.id, "bin.000001", 1800.0), (b.id, "bin.000009", 3600.0)] {
                #expect(try await archive.acquireLease(nodeID: node, projectID: p, owner: "test", until: Date().addingTimeInterval(600), now: Date()))
                #expect(
                    try await archive.appendSegment(
                        W.segment(node, 1, file, 0, 1000, last: last), cursor: BinlogCursor(file: file, position: 1000), owner: "test", now: Date()))
            }
            let related = "/v3/\(p)/instances/\(source.id)/backups/related-dn"

            // related-dn: inside the first window → a and b, with the wire types of RelatedDnVO.
            let inside = try await server.signed(.get, related + "?restore_time=\(Self.ms(900))")
            #expect(inside.status == .ok)
            let nodes = try #require(inside.json["related_data_nodes"] as? [[String: Any]])
            #expect(nodes.map { $0["instance_id"] as? String } == [a.id, b.id])
            #expect(Set(nodes[0].keys) == ["instance_id", "instance_name", "instance_status", "data_volume_size", "version", "engine_name"])
            #expect(nodes[0]["data_volume_size"] is NSNumber)
            #expect(nodes[0]["instance_status"] as? String == "normal")
            #expect(nodes[0]["engine_name"] as? String == "mariadb")
            // The newest restorable time is the end of the last window, not the newest backup's cut.
            #expect(inside.json["latest_restorable_time"] as? String == "2025-05-20T10:00:00+0000")
            #expect(inside.json["total"] as? Int == 2 && inside.json["offset"] as? Int == 0 && inside.json["limit"] as? Int == 10)
            // At the second cut exactly: its nodes a and c. Between the windows (+1801 s) and before the first: none.
            let atCut = try await server.signed(.get, related + "?restore_time=\(Self.ms(7200))")
            #expect((atCut.json["related_data_nodes"] as? [[String: Any]])?.map { $0["instance_id"] as? String } == [a.id, c.id])
            for outside in [Self.ms(1801), Self.ms(59), Self.ms(7201)] {
                let none = try await server.signed(.get, related + "?restore_time=\(outside)")
                #expect(none.status == .ok)
                #expect((none.json["related_data_nodes"] as? [[String: Any]])?.isEmpty == true, "\(outside)")
                #expect(none.json["total"] as? Int == 0)
            }
            let paged = try await server.signed(.get, related + "?restore_time=\(Self.ms(900))&offset=1&limit=1")
            #expect((paged.json["related_data_nodes"] as? [[String: Any]])?.map { $0["instance_id"] as? String } == [b.id])
            #expect(paged.json["total"] as? Int == 2)
            for bad in ["", "?restore_time=", "?restore_time=abc", "?restore_time=\(Self.ms(900))&limit=0"] {
                let reply = try await server.signed(.get, related + bad)
                #expect(reply.status == .badRequest, "\(bad)")
                #expect(reply.errorCode == "DBS.280001", "\(bad)")
                #expect(reply.json["errCode"] as? String == "DBS.280001", "\(bad)")
            }

            // Targets: a free one (with nodes t1, t2), a busy one, one with a `shop` schema, one of another project.
            let (t1, t2, t3) = (Self.node(projectID: p, name: "t1"), Self.node(projectID: p, name: "t22"), Self.node(projectID: p, name: "t333", engine: "mysql"))
            for node in [t1, t2, t3] { try await ddm.insertDataNode(node) }
            let free = W.instance(projectID: p, name: "ddm-free")
            let busy = W.instance(projectID: p, name: "ddm-busy")
            let clash = W.instance(projectID: p, name: "ddm-clash")
            let foreign = W.instance(projectID: Identifiers.hex32(), name: "ddm-foreign")
            for instance in [free, busy, clash, foreign] { try await ddm.insertInstance(instance) }
            try await ddm.insertSchema(Self.schema(free, "misc", parts: [(t1, ["misc_0000"]), (t2, ["misc_0001"]), (t3, ["misc_0002"])]))
            // Node t2 also serves the clash instance, whose `shop` schema keeps shop_0000 on it.
            try await ddm.insertSchema(Self.schema(clash, "shop", parts: [(t2, ["shop_0000"])]))
            // A job of a kind no worker claims keeps `busy` occupied for the whole test.
            try await server.parts.store.jobs.enqueue(Job.new(kind: "test.hold", projectID: p, resourceID: busy.id, now: Date()))

            let instancesReply = try await server.signed(.get, "/v3/\(p)/instances/\(source.id)/backups/restorable-instances?limit=128")
            #expect(instancesReply.status == .ok)
            let instances = try #require(instancesReply.json["instances"] as? [[String: Any]])
            let byID = Dictionary(instances.compactMap { item in (item["instance_id"] as? String).map { ($0, item) } }, uniquingKeysWith: { x, _ in x })
            #expect(Set(byID.keys) == [source.id, free.id, busy.id, clash.id])
            #expect(instancesReply.json["total"] as? Int == 4)
            #expect(Set(instances[0].keys) == ["instance_name", "instance_id", "status", "available", "unavailable_reason", "vpc_name"])
            #expect(byID[free.id]?["available"] as? Bool == true)
            #expect(byID[free.id]?["unavailable_reason"] as? String == "")
            #expect(byID[free.id]?["status"] as? String == "RUNNING")
            #expect(byID[free.id]?["vpc_name"] as? String == "v")
            #expect(byID[source.id]?["available"] as? Bool == false)
            #expect(byID[source.id]?["unavailable_reason"] as? String == RestoreTargets.sourceInstanceReason)
            #expect(byID[busy.id]?["unavailable_reason"] as? String == RestoreTargets.busyReason)
            #expect(byID[clash.id]?["unavailable_reason"] as? String == "The target instance already has the schemas shop.")
            // `available` is a JSON boolean, not 0/1.
            let raw = String(buffer: instancesReply.body)
            #expect(raw.contains("\"available\":true") || raw.contains("\"available\" : true"))
            let page = try await server.signed(.get, "/v3/\(p)/instances/\(source.id)/backups/restorable-instances?offset=3&limit=1")
            #expect((page.json["instances"] as? [[String: Any]])?.count == 1)
            #expect(page.json["total"] as? Int == 4 && page.json["offset"] as? Int == 3 && page.json["limit"] as? Int == 1)

            // restorable-data-node: node a's data at +900 s into `free`: t1 available, t2 holds shop_0000, t3 is MySQL.
            func dataNodes(_ target: String, _ sourceNode: String, _ time: Int64, extra: String = "") async throws -> TestServer.Reply {
                try await server.signed(
                    .get,
                    "/v3/\(p)/instances/\(source.id)/backups/restorable-data-node?target_instance_id=\(target)&source_dn_instance_id=\(sourceNode)&restore_time=\(time)"
                        + extra)
            }
            let judged = try await dataNodes(free.id, a.id, Self.ms(900))
            #expect(judged.status == .ok)
            let targets = try #require(judged.json["target_data_nodes"] as? [[String: Any]])
            #expect(targets.map { $0["instance_id"] as? String } == [t1.id, t2.id, t3.id])
            #expect(Set(targets[0].keys) == ["instance_name", "instance_id", "engine_name", "status", "available", "unavailable_reason", "vpc_name", "private_ip"])
            #expect(targets[0]["available"] as? Bool == true && targets[0]["unavailable_reason"] as? String == "")
            #expect(targets[0]["private_ip"] as? String == t1.host && targets[0]["engine_name"] as? String == "mariadb")
            #expect(targets[1]["available"] as? Bool == false)
            #expect(targets[1]["unavailable_reason"] as? String == "The data node already holds the databases shop_0000.")
            #expect(targets[2]["unavailable_reason"] as? String == "The data node runs mysql, the source data node mariadb.")
            #expect(judged.json["total"] as? Int == 3)
            // Node b's data (shop_0001) does not clash with t2.
            let forB = try await dataNodes(free.id, b.id, Self.ms(900))
            #expect((forB.json["target_data_nodes"] as? [[String: Any]])?.map { $0["available"] as? Bool } == [true, true, false])
            // Paging.
            let second = try await dataNodes(free.id, a.id, Self.ms(900), extra: "&offset=1&limit=1")
            #expect((second.json["target_data_nodes"] as? [[String: Any]])?.map { $0["instance_id"] as? String } == [t2.id])
            // The source's own nodes are never targets: the source as target lists a and b, both unavailable.
            let ownNodes = try await dataNodes(source.id, a.id, Self.ms(900))
            #expect((ownNodes.json["target_data_nodes"] as? [[String: Any]])?.map { $0["unavailable_reason"] as? String } == [
                RestoreTargets.sourceNodeReason, RestoreTargets.sourceNodeReason,
            ])

            // Errors: a time outside every window, a node not in the backup at that time (c is only in the second one),
            // missing or malformed parameters → 400 DBS.280001; an unknown or foreign target → 404 DBS.200002.
            for reply in [
                try await dataNodes(free.id, a.id, Self.ms(1801)), try await dataNodes(free.id, c.id, Self.ms(900)),
                try await dataNodes(free.id, "x", Self.ms(900)), try await dataNodes("x", a.id, Self.ms(900)),
                try await server.signed(
                    .get, "/v3/\(p)/instances/\(source.id)/backups/restorable-data-node?target_instance_id=\(free.id)&source_dn_instance_id=\(a.id)"),
            ] {
                #expect(reply.status == .badRequest)
                #expect(reply.errorCode == "DBS.280001")
            }
            for target in [foreign.id, Identifiers.ddm(suffix: "in09")] {
                let reply = try await dataNodes(target, a.id, Self.ms(900))
                #expect(reply.status == .notFound)
                #expect(reply.errorCode == "DBS.200002")
                #expect(!String(buffer: reply.body).contains("ddm-foreign"))
            }
            // Another project's source: 404 on all three.
            for path in ["related-dn?restore_time=\(Self.ms(900))", "restorable-instances", "restorable-data-node?target_instance_id=\(free.id)&source_dn_instance_id=\(a.id)&restore_time=\(Self.ms(900))"] {
                let reply = try await server.signed(.get, "/v3/\(p)/instances/\(foreign.id)/backups/" + path)
                #expect(reply.status == .notFound, "\(path)")
                #expect(reply.errorCode == "DBS.200002", "\(path)")
            }
        }
    }
}
