import Foundation
import NIOCore

/// Receives the compressed dump of one data node, chunk by chunk, in order.
///
/// The blob store's writer fits this shape; the engine does not know where the bytes go. `async`, so a
/// sink does its I/O without blocking the thread that reads the compressor's output.
package protocol DumpSink: Sendable {
    func write(_ bytes: ByteBuffer) async throws
}

/// One data node to dump: where it is, which databases, and where its compressed dump goes.
package struct DumpTarget: Sendable {
    /// The caller's name for the node (a data node id), used in messages.
    package var name: String
    package var endpoint: MySQLEndpoint
    /// Physical databases to dump (`--databases …`); their `CREATE DATABASE` statements are included.
    package var databases: [String]
    package var sink: any DumpSink

    package init(name: String, endpoint: MySQLEndpoint, databases: [String], sink: any DumpSink) {
        self.name = name
        self.endpoint = endpoint
        self.databases = databases
        self.sink = sink
    }
}

/// How Coffer knew a node's dump had its snapshot before releasing the node's lock.
package enum SnapshotProof: String, Sendable, Equatable, Codable {
    /// The dump printed its snapshot's binlog coordinates (binary logging on).
    case binlogCoordinates
    /// SHOW ENGINE INNODB STATUS showed the dump connection's read view (binary logging off).
    case readView
    /// The whole dump ended while the lock was still held.
    case finishedUnderLock
}

/// What one node's dump recorded.
package struct DumpOutcome: Sendable, Equatable {
    package var name: String
    /// The node's binary log coordinates at the cut (`SHOW MASTER STATUS` under the lock, equal to the dump's own).
    package var binlogFile: String
    package var binlogPosition: UInt64
    /// `@@gtid_binlog_pos` at the cut (MariaDB), empty when unknown.
    package var gtidPosition: String
    /// Uncompressed SQL bytes produced by the dump tool.
    package var dumpBytes: Int64
    /// How long this node's global read lock was held.
    package var lockHeld: Duration
    /// How the snapshot was known to exist before the release.
    package var proof: SnapshotProof
    /// The consistent point: wall-clock time read after every node's lock was granted and before any release, so
    /// no node committed between it and the snapshots. The same instant for every node of one cut.
    package var cutAt: Date
}
