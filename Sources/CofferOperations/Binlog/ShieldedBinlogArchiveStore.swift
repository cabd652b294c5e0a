import CofferCore
import Foundation

/// Runs every call of the archive's store outside the caller's cancellation.
///
/// The archivers are stopped by cancelling their tasks, which can land in the middle of a store call. SQLite's
/// async calls throw at once in a cancelled task, the `ROLLBACK` of an interrupted transaction included, which would
/// leave the pooled connection inside an open transaction ("cannot start a transaction within a transaction" for
/// every later user). Each call here is short and bounded by the database, so letting it finish is safe.
struct ShieldedBinlogArchiveStore: BinlogArchiveStore {
    let base: any BinlogArchiveStore

    private func shielded<R: Sendable>(_ body: @escaping @Sendable () async throws -> R) async throws -> R {
        try await Task { try await body() }.value
    }

    func acquireLease(nodeID: String, projectID: String, owner: String, until: Date, now: Date) async throws -> Bool {
        try await self.shielded { try await self.base.acquireLease(nodeID: nodeID, projectID: projectID, owner: owner, until: until, now: now) }
    }

    func releaseLease(nodeID: String, owner: String) async throws {
        try await self.shielded { try await self.base.releaseLease(nodeID: nodeID, owner: owner) }
    }

    func status(nodeID: String) async throws -> BinlogNodeStatus? {
        try await self.shielded { try await self.base.status(nodeID: nodeID) }
    }

    func setState(nodeID: String, owner: String, state: BinlogNodeStatus.State, detail: String?, now: Date) async throws -> Bool {
        try await self.shielded { try await self.base.setState(nodeID: nodeID, owner: owner, state: state, detail: detail, now: now) }
    }

    func appendSegment(_ segment: BinlogSegment, cursor: BinlogCursor, owner: String, now: Date) async throws -> Bool {
        try await self.shielded { try await self.base.appendSegment(segment, cursor: cursor, owner: owner, now: now) }
    }

    func recordGap(_ gap: BinlogGap, owner: String, now: Date) async throws -> Bool {
        try await self.shielded { try await self.base.recordGap(gap, owner: owner, now: now) }
    }

    func segments(nodeID: String) async throws -> [BinlogSegment] {
        try await self.shielded { try await self.base.segments(nodeID: nodeID) }
    }

    func gaps(nodeID: String) async throws -> [BinlogGap] {
        try await self.shielded { try await self.base.gaps(nodeID: nodeID) }
    }

    func deleteSegments(nodeID: String, blobKeys: [String]) async throws {
        try await self.shielded { try await self.base.deleteSegments(nodeID: nodeID, blobKeys: blobKeys) }
    }
}
