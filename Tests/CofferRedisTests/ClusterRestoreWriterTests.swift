import CofferRedis
import CofferTestSupport
import Foundation
import Logging
import NIOCore
import Testing

/// The routing writer against a real Redis Cluster (3 masters, no replicas): keys go to the master of their slot, and
/// the redirects a changing slot map causes (`MOVED`, `ASK` during a slot migration) are followed, not fatal.
@Suite("Cluster restore writer", .serialized, .timeLimit(.minutes(3)))
struct ClusterRestoreWriterTests {
    static let logger = Logger(label: "coffer.test.cluster-writer")

    /// An RDB of `keys` string keys, as a single server's snapshot.
    static func rdb(_ keys: [String]) async throws -> ByteBuffer {
        try await RedisServer.withServer(extraArguments: ["--repl-diskless-sync-delay", "0"]) { server in
            let connection = try await server.connect()
            for batch in stride(from: 0, to: keys.count, by: 1000) {
                _ = try await connection.pipeline(keys[batch..<min(batch + 1000, keys.count)].map { ["SET", $0, "value-of-\($0)"] })
            }
            var file = ByteBuffer()
            _ = try await connection.pullSnapshot(sink: { file.writeImmutableBuffer($0) })
            await connection.close()
            return file
        }
    }

    static func writer(_ nodes: [ClusterRestoreWriter.Node]) throws -> ClusterRestoreWriter {
        try ClusterRestoreWriter(
            nodes: nodes, clusterMode: true, connectTimeout: .seconds(5), commandTimeout: .seconds(30), logger: Self.logger,
            endpointFor: { host, port in RedisEndpoint(host: host, port: port, username: nil, password: nil) })
    }

    static func write(_ file: ByteBuffer, with writer: ClusterRestoreWriter) async throws -> RestoreWriteSummary {
        var remaining: ByteBuffer? = file
        return try await writer.write(
            files: [{
                defer { remaining = nil }
                return remaining
            }], nowMilliseconds: { Int64(Date().timeIntervalSince1970 * 1000) }, progress: { _ in })
    }

    /// Every key is on the master of its slot now, with its value.
    static func expectPlaced(_ keys: [String], in cluster: RedisCluster) async throws {
        for master in try await cluster.currentMasters() {
            let connection = try await master.server.connect()
            let mine = keys.filter { key in master.slots.contains { $0.contains(RedisSlot.slot(of: key)) } }
            #expect(try await connection.command(["DBSIZE"]).integer == Int64(mine.count))
            for key in mine.prefix(200) { #expect(try await connection.command(["GET", key]).string == "value-of-\(key)") }
            await connection.close()
        }
    }

    @Test("A stale slot map (every slot on one master): MOVED replies send each key on to its master")
    func followsMoved() async throws {
        try await RedisCluster.withCluster(replicasPerMaster: 0) { cluster in
            let keys = (0..<3000).map { "moved:\($0)" }
            let file = try await Self.rdb(keys)
            let masters = try await cluster.currentMasters()
            let stale = masters.enumerated().map { index, master in
                ClusterRestoreWriter.Node(
                    endpoint: master.server.endpoint, slots: index == 0 ? [0...(RedisSlot.count - 1)] : [],
                    target: RestoreTarget(redisVersion: "7.0.0"))
            }
            let summary = try await Self.write(file, with: try Self.writer(stale))
            #expect(summary.keys == keys.count)
            try await Self.expectPlaced(keys, in: cluster)
        }
    }

    @Test("A slot being migrated: ASK sends its keys to the importing master with ASKING")
    func followsAsk() async throws {
        try await RedisCluster.withCluster(replicasPerMaster: 0) { cluster in
            let tagged = (0..<500).map { "{migrating}:\($0)" }
            let others = (0..<1000).map { "plain:\($0)" }
            let file = try await Self.rdb(tagged + others)
            let slot = RedisSlot.slot(of: "{migrating}")
            let masters = try await cluster.currentMasters()
            let source = try #require(masters.first { $0.slots.contains { $0.contains(slot) } }?.server)
            let destination = try #require(masters.first { $0.server.port != source.port }?.server)
            let sourceConnection = try await source.connect()
            let destinationConnection = try await destination.connect()
            let sourceID = try #require(try await sourceConnection.command(["CLUSTER", "MYID"]).string)
            let destinationID = try #require(try await destinationConnection.command(["CLUSTER", "MYID"]).string)
            _ = try await destinationConnection.commandExpectingSuccess(["CLUSTER", "SETSLOT", "\(slot)", "IMPORTING", sourceID])
            _ = try await sourceConnection.commandExpectingSuccess(["CLUSTER", "SETSLOT", "\(slot)", "MIGRATING", destinationID])
            let nodes = masters.map { ClusterRestoreWriter.Node(endpoint: $0.server.endpoint, slots: $0.slots, target: RestoreTarget(redisVersion: "7.0.0")) }
            let summary = try await Self.write(file, with: try Self.writer(nodes))
            #expect(summary.keys == tagged.count + others.count)
            // The migrating slot's keys are all on the importing master, none stayed behind.
            #expect(try await destinationConnection.command(["CLUSTER", "COUNTKEYSINSLOT", "\(slot)"]).integer == Int64(tagged.count))
            #expect(try await sourceConnection.command(["CLUSTER", "COUNTKEYSINSLOT", "\(slot)"]).integer == 0)
            // The migration ends: every master is told the slot's new owner.
            for master in masters {
                let connection = try await master.server.connect()
                _ = try await connection.commandExpectingSuccess(["CLUSTER", "SETSLOT", "\(slot)", "NODE", destinationID])
                await connection.close()
            }
            await sourceConnection.close()
            await destinationConnection.close()
            try await Self.expectPlaced(tagged + others, in: cluster)
        }
    }

    @Test("A slot with no master: the write is refused before anything is sent")
    func uncoveredSlots() throws {
        let node = ClusterRestoreWriter.Node(
            endpoint: RedisEndpoint(host: "127.0.0.1", port: 1, username: nil, password: nil), slots: [0...16000], target: RestoreTarget(redisVersion: "7.0.0"))
        #expect(throws: ClusterRestoreWriter.PlanError.uncoveredSlots(first: 16001, count: 383)) { try Self.writer([node]) }
    }
}
