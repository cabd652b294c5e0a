import Foundation

/// A published piece of a data node's binary log file: the bytes `[startPosition, endPosition)` of `file`, whole
/// events only. A file's archive is its segments concatenated in `startPosition` order; the first segment starts
/// at 0 (it holds the 4-byte magic number), the last one of a completed file has `closesFile`.
///
/// The archiver publishes a segment when the server rotates, when it stops cleanly or loses the connection, and
/// every `segmentInterval` while a file is open, so the archive of the active file is never more than that behind
/// and its committed length is `endPosition`.
package struct BinlogSegment: Sendable, Equatable {
    package var nodeID: String
    /// Order of publication within the node (also the order of the server's files).
    package var sequence: Int64
    package var file: String
    package var startPosition: UInt64
    package var endPosition: UInt64
    package var blobKey: String
    package var size: Int64
    package var sha256: String
    /// Header timestamps (UTC seconds) of the segment's first and last events.
    package var firstEventAt: Date?
    package var lastEventAt: Date?
    /// The last MariaDB GTID (`domain-server-sequence`) in the segment, if any.
    package var lastGTID: String?
    /// The server rotated after this segment: the file is complete.
    package var closesFile: Bool
    package var createdAt: Date

    package init(
        nodeID: String, sequence: Int64, file: String, startPosition: UInt64, endPosition: UInt64, blobKey: String, size: Int64,
        sha256: String, firstEventAt: Date?, lastEventAt: Date?, lastGTID: String?, closesFile: Bool, createdAt: Date
    ) {
        self.nodeID = nodeID
        self.sequence = sequence
        self.file = file
        self.startPosition = startPosition
        self.endPosition = endPosition
        self.blobKey = blobKey
        self.size = size
        self.sha256 = sha256
        self.firstEventAt = firstEventAt
        self.lastEventAt = lastEventAt
        self.lastGTID = lastGTID
        self.closesFile = closesFile
        self.createdAt = createdAt
    }
}

/// A stretch of a node's binary log Coffer could not archive (the server purged it first, or it was reset): a
/// restorable window must not cross it.
package struct BinlogGap: Sendable, Equatable {
    package var nodeID: String
    /// Where the archive stopped.
    package var from: BinlogCursor
    /// Timestamp of the last archived event before the gap, if any.
    package var fromEventAt: Date?
    /// Where the archive continues.
    package var to: BinlogCursor
    package var reason: String
    package var detectedAt: Date

    package init(nodeID: String, from: BinlogCursor, fromEventAt: Date?, to: BinlogCursor, reason: String, detectedAt: Date) {
        self.nodeID = nodeID
        self.from = from
        self.fromEventAt = fromEventAt
        self.to = to
        self.reason = reason
        self.detectedAt = detectedAt
    }
}

/// Where a node's binary log stands as Coffer knows it: a file name and the offset archived up to.
/// (Same shape as the MySQL engine's cursor; Core imports no engine.)
package struct BinlogCursor: Sendable, Equatable, CustomStringConvertible {
    package var file: String
    package var position: UInt64

    package init(file: String, position: UInt64) {
        self.file = file
        self.position = position
    }

    /// The start of a file: just after its magic number.
    package static func start(of file: String) -> BinlogCursor { BinlogCursor(file: file, position: 4) }

    package var description: String { "\(self.file):\(self.position)" }
}

/// What the archiver knows of one data node.
package struct BinlogNodeStatus: Sendable, Equatable {
    package enum State: String, Sendable, CaseIterable {
        /// Streaming (or about to): segments follow.
        case archiving
        /// `log_bin` is OFF: no archive, no window beyond the node's backups.
        case noBinlog = "no_binlog"
        /// The last attempt failed (unreachable, refused); retried.
        case failing
    }

    package var nodeID: String
    package var projectID: String
    package var state: State
    /// Why, for `failing` and `noBinlog`.
    package var detail: String?
    /// Archived up to here; nil before the first segment or gap.
    package var cursor: BinlogCursor?
    package var updatedAt: Date

    package init(nodeID: String, projectID: String, state: State, detail: String?, cursor: BinlogCursor?, updatedAt: Date) {
        self.nodeID = nodeID
        self.projectID = projectID
        self.state = state
        self.detail = detail
        self.cursor = cursor
        self.updatedAt = updatedAt
    }
}
