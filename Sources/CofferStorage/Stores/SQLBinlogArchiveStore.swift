import CofferCore
import Foundation
import SQLKit

/// `BinlogArchiveStore` over SQL (migration 0110). The lease is a conditional UPDATE of the node's row, the same
/// pattern as the automatic backup slots: whichever server's UPDATE matches owns the node until the lease expires
/// (on PostgreSQL by the database's clock, so nodes with skewed clocks still agree).
/// Segment and gap writes check the lease and the cursor in the same transaction that moves the cursor.
package struct SQLBinlogArchiveStore: BinlogArchiveStore {
    private let provider: any DatabaseProvider

    package init(provider: any DatabaseProvider) {
        self.provider = provider
    }

    package func acquireLease(nodeID: String, projectID: String, owner: String, until: Date, now: Date) async throws -> Bool {
        // Timed and judged by the database's clock on PostgreSQL (`LeaseClock`), as job leases are.
        let kind = self.provider.kind
        return try await self.provider.withTransaction { db in
            try await db.raw(
                """
                INSERT INTO ddm_binlog_nodes (node_id, project_id, state, updated_at)
                VALUES (\(bind: nodeID), \(bind: projectID), 'archiving', \(bind: millis(now)))
                ON CONFLICT (node_id) DO NOTHING
                """
            ).run()
            let taken = try await db.raw(
                """
                UPDATE ddm_binlog_nodes SET lease_owner = \(bind: owner), lease_expires_at = \(kind.leaseEnd(until: until, now: now))
                WHERE node_id = \(bind: nodeID)
                  AND (lease_owner IS NULL OR lease_owner = \(bind: owner) OR lease_expires_at < \(kind.leaseNow(now)))
                RETURNING node_id
                """
            ).all().first
            return taken != nil
        }
    }

    package func releaseLease(nodeID: String, owner: String) async throws {
        try await self.provider.withDatabase { db in
            try await db.raw(
                """
                UPDATE ddm_binlog_nodes SET lease_owner = NULL, lease_expires_at = NULL
                WHERE node_id = \(bind: nodeID) AND lease_owner = \(bind: owner)
                """
            ).run()
        }
    }

    package func status(nodeID: String) async throws -> BinlogNodeStatus? {
        let row = try await self.provider.withDatabase { db in
            try await db.raw("SELECT * FROM ddm_binlog_nodes WHERE node_id = \(bind: nodeID)").all().first
        }
        guard let row else { return nil }
        let file = try row.optionalString("cursor_file")
        let position = try row.decode(column: "cursor_position", as: Int64?.self)
        return BinlogNodeStatus(
            nodeID: try row.string("node_id"), projectID: try row.string("project_id"),
            state: BinlogNodeStatus.State(rawValue: try row.string("state")) ?? .failing, detail: try row.optionalString("detail"),
            cursor: file.map { BinlogCursor(file: $0, position: UInt64(max(0, position ?? 4))) }, updatedAt: try row.date("updated_at"))
    }

    package func setState(nodeID: String, owner: String, state: BinlogNodeStatus.State, detail: String?, now: Date) async throws -> Bool {
        try await self.provider.withDatabase { db in
            try await db.raw(
                """
                UPDATE ddm_binlog_nodes SET state = \(bind: state.rawValue), detail = \(bind: detail), updated_at = \(bind: millis(now))
                WHERE node_id = \(bind: nodeID) AND lease_owner = \(bind: owner)
                RETURNING node_id
                """
            ).all().first != nil
        }
    }

    package func appendSegment(_ segment: BinlogSegment, cursor: BinlogCursor, owner: String, now: Date) async throws -> Bool {
        try await self.provider.withTransaction { db in
            guard let row = try await Self.ownedRow(segment.nodeID, owner: owner, on: db) else { return false }
            // The segment must start exactly at the cursor (a file's first segment, at 0, holds the magic up to 4);
            // before any cursor, anywhere.
            let current = try row.optionalString("cursor_file")
            let position = UInt64(max(0, try row.decode(column: "cursor_position", as: Int64?.self) ?? 0))
            let start: UInt64 = segment.startPosition == 0 ? 4 : segment.startPosition
            if let current, current != segment.file || position != start { return false }
            try await db.raw(
                """
                INSERT INTO ddm_binlog_segments (node_id, sequence, file_name, start_position, end_position, blob_key, size, sha256,
                  first_event_at, last_event_at, last_gtid, closes_file, created_at)
                VALUES (\(bind: segment.nodeID), \(bind: segment.sequence), \(bind: segment.file), \(bind: Int64(segment.startPosition)),
                  \(bind: Int64(segment.endPosition)), \(bind: segment.blobKey), \(bind: segment.size), \(bind: segment.sha256),
                  \(bind: millis(segment.firstEventAt)), \(bind: millis(segment.lastEventAt)), \(bind: segment.lastGTID),
                  \(bind: segment.closesFile ? 1 : 0), \(bind: millis(segment.createdAt)))
                """
            ).run()
            try await Self.moveCursor(segment.nodeID, to: cursor, now: now, on: db)
            return true
        }
    }

    package func recordGap(_ gap: BinlogGap, owner: String, now: Date) async throws -> Bool {
        try await self.provider.withTransaction { db in
            guard try await Self.ownedRow(gap.nodeID, owner: owner, on: db) != nil else { return false }
            try await db.raw(
                """
                INSERT INTO ddm_binlog_gaps (node_id, from_file, from_position, from_event_at, to_file, to_position, reason, detected_at)
                VALUES (\(bind: gap.nodeID), \(bind: gap.from.file), \(bind: Int64(gap.from.position)), \(bind: millis(gap.fromEventAt)),
                  \(bind: gap.to.file), \(bind: Int64(gap.to.position)), \(bind: gap.reason), \(bind: millis(gap.detectedAt)))
                """
            ).run()
            try await Self.moveCursor(gap.nodeID, to: gap.to, now: now, on: db)
            return true
        }
    }

    package func segments(nodeID: String) async throws -> [BinlogSegment] {
        let rows = try await self.provider.withDatabase { db in
            try await db.raw("SELECT * FROM ddm_binlog_segments WHERE node_id = \(bind: nodeID) ORDER BY sequence").all()
        }
        return try rows.map { row in
            BinlogSegment(
                nodeID: try row.string("node_id"), sequence: try row.decode(column: "sequence", as: Int64.self),
                file: try row.string("file_name"), startPosition: UInt64(max(0, try row.decode(column: "start_position", as: Int64.self))),
                endPosition: UInt64(max(0, try row.decode(column: "end_position", as: Int64.self))), blobKey: try row.string("blob_key"),
                size: try row.decode(column: "size", as: Int64.self), sha256: try row.string("sha256"),
                firstEventAt: try row.optionalDate("first_event_at"), lastEventAt: try row.optionalDate("last_event_at"),
                lastGTID: try row.optionalString("last_gtid"), closesFile: try row.int("closes_file") != 0,
                createdAt: try row.date("created_at"))
        }
    }

    package func gaps(nodeID: String) async throws -> [BinlogGap] {
        let rows = try await self.provider.withDatabase { db in
            try await db.raw("SELECT * FROM ddm_binlog_gaps WHERE node_id = \(bind: nodeID) ORDER BY detected_at, to_file, to_position")
                .all()
        }
        return try rows.map { row in
            BinlogGap(
                nodeID: try row.string("node_id"),
                from: BinlogCursor(file: try row.string("from_file"), position: UInt64(max(0, try row.decode(column: "from_position", as: Int64.self)))),
                fromEventAt: try row.optionalDate("from_event_at"),
                to: BinlogCursor(file: try row.string("to_file"), position: UInt64(max(0, try row.decode(column: "to_position", as: Int64.self)))),
                reason: try row.string("reason"), detectedAt: try row.date("detected_at"))
        }
    }

    package func deleteSegments(nodeID: String, blobKeys: [String]) async throws {
        guard !blobKeys.isEmpty else { return }
        try await self.provider.withTransaction { db in
            for key in blobKeys {
                try await db.raw("DELETE FROM ddm_binlog_segments WHERE node_id = \(bind: nodeID) AND blob_key = \(bind: key)").run()
            }
        }
    }

    private static func ownedRow(_ nodeID: String, owner: String, on db: any SQLDatabase) async throws -> (any SQLRow)? {
        try await db.raw("SELECT * FROM ddm_binlog_nodes WHERE node_id = \(bind: nodeID) AND lease_owner = \(bind: owner)").all().first
    }

    private static func moveCursor(_ nodeID: String, to cursor: BinlogCursor, now: Date, on db: any SQLDatabase) async throws {
        try await db.raw(
            """
            UPDATE ddm_binlog_nodes SET cursor_file = \(bind: cursor.file), cursor_position = \(bind: Int64(cursor.position)),
              state = 'archiving', detail = NULL, updated_at = \(bind: millis(now))
            WHERE node_id = \(bind: nodeID)
            """
        ).run()
    }
}
