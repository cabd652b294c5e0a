import Foundation

/// What a restore by hash slot (into a cluster, or from a cluster backup) has changed, saved as the checkpoint: the
/// phase of the whole restore and, for each server written to, the single-server state (its fence, temporary user,
/// settings lowered, safety snapshot).
struct ShardedRestoreState: Codable, Equatable {
    struct Node: Codable, Equatable {
        var host: String
        var port: Int
        /// The node's own part: `phase` is unused there (the whole restore has one).
        var state: RedisRestoreState

        var address: String { "\(self.host):\(self.port)" }
    }

    var phase: RedisRestoreState.Phase
    var nodes: [Node]
    /// Whether the target runs in cluster mode (keys in database 0, routed by slot) or is one server.
    var clusterMode: Bool

    enum CodingKeys: String, CodingKey {
        case phase, nodes
        case clusterMode = "cluster_mode"
    }

    var checkpoint: RestoreCheckpoint {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let data = (try? encoder.encode(self)) ?? Data("{}".utf8)
        return RestoreCheckpoint(json: String(decoding: data, as: UTF8.self))
    }

    /// Nil when the checkpoint is a single server's (``RedisRestoreState``).
    init?(_ checkpoint: RestoreCheckpoint) {
        guard let state = try? JSONDecoder().decode(Self.self, from: Data(checkpoint.json.utf8)) else { return nil }
        self = state
    }

    init(phase: RedisRestoreState.Phase, nodes: [Node], clusterMode: Bool) {
        self.phase = phase
        self.nodes = nodes
        self.clusterMode = clusterMode
    }
}

/// Saves a sharded restore's checkpoint in the order its changes happen, whichever node's task changes it: each
/// save waits for the one before (a later state never lands before an earlier one), and the caller goes on only once
/// its own is stored.
actor ShardedCheckpointLog {
    private(set) var state: ShardedRestoreState
    private let save: @Sendable (RestoreCheckpoint) async throws -> Void
    private var last: Task<Void, any Error>?

    init(_ state: ShardedRestoreState, save: @escaping @Sendable (RestoreCheckpoint) async throws -> Void) {
        self.state = state
        self.save = save
    }

    func set(phase: RedisRestoreState.Phase) async throws {
        self.state.phase = phase
        try await self.store()
    }

    func set(node index: Int, _ node: RedisRestoreState) async throws {
        self.state.nodes[index].state = node
        try await self.store()
    }

    func store() async throws {
        let checkpoint = self.state.checkpoint
        let previous = self.last
        let save = self.save
        let task = Task {
            _ = await previous?.result
            try await save(checkpoint)
        }
        self.last = task
        try await task.value
    }
}
