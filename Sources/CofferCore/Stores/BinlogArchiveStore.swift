import Foundation

/// The binary log archive's bookkeeping: per data node a lease (which Coffer server archives it), its state and
/// cursor, its published segments and its gaps.
///
/// Every write is conditional on the lease, in the transaction that moves the cursor, so a server that lost its
/// lease can never record a segment twice or move another's cursor.
package protocol BinlogArchiveStore: Sendable {
    /// Takes or renews the lease on `nodeID` for `owner` until `until`; false when another owner holds it unexpired.
    func acquireLease(nodeID: String, projectID: String, owner: String, until: Date, now: Date) async throws -> Bool
    /// Gives the lease up (clean stop), so another server may take the node at once.
    func releaseLease(nodeID: String, owner: String) async throws
    func status(nodeID: String) async throws -> BinlogNodeStatus?
    /// Records the node's state; false when `owner` no longer holds the lease.
    func setState(nodeID: String, owner: String, state: BinlogNodeStatus.State, detail: String?, now: Date) async throws -> Bool
    /// Records a published segment and moves the cursor to `cursor`; false (nothing written) when `owner` lost the
    /// lease or the segment does not start at the current cursor.
    func appendSegment(_ segment: BinlogSegment, cursor: BinlogCursor, owner: String, now: Date) async throws -> Bool
    /// Records a gap and moves the cursor to its end; false when `owner` lost the lease.
    func recordGap(_ gap: BinlogGap, owner: String, now: Date) async throws -> Bool
    /// The node's segments in publication order.
    func segments(nodeID: String) async throws -> [BinlogSegment]
    func gaps(nodeID: String) async throws -> [BinlogGap]
    /// Forgets segments (retention); their blobs are removed by the caller.
    func deleteSegments(nodeID: String, blobKeys: [String]) async throws
}
