import NIOCore

/// One binary log event as the replication stream carries it: the 19-byte v4 header, then the body (and, when
/// the server checksums its binlog, the CRC32 trailer), byte for byte as stored in the server's file.
package struct BinlogEvent: Sendable {
    /// Event types Coffer looks at (MySQL `binlog_event.h`, MariaDB `log_event.h`).
    package enum Kind {
        package static let stop: UInt8 = 3
        package static let rotate: UInt8 = 4
        package static let formatDescription: UInt8 = 15
        package static let xid: UInt8 = 16
        package static let heartbeat: UInt8 = 27
        package static let mariadbGTID: UInt8 = 162
        package static let mariadbGTIDList: UInt8 = 163
    }

    /// `LOG_EVENT_ARTIFICIAL_F`: made up by the dump thread (the rotate naming the file it starts from), never in a file.
    static let artificialFlag: UInt16 = 0x20
    static let headerSize = 19

    /// The whole event, header included.
    package let bytes: ByteBuffer
    /// Seconds since the epoch (UTC) of the statement or, for a GTID event, of the commit.
    package let timestamp: UInt32
    package let type: UInt8
    package let serverID: UInt32
    package let size: UInt32
    /// Offset just past this event in its file (0 for events made up by the dump thread).
    package let endPosition: UInt32
    package let flags: UInt16

    /// Parses the header of `bytes` (one replication packet without its `0x00` marker).
    /// - Throws: `MySQLError.protocolViolation` when the header is short or its size disagrees with the packet.
    package init(_ bytes: ByteBuffer) throws {
        guard bytes.readableBytes >= Self.headerSize,
            let timestamp = bytes.getInteger(at: bytes.readerIndex, endianness: .little, as: UInt32.self),
            let type = bytes.getInteger(at: bytes.readerIndex + 4, as: UInt8.self),
            let serverID = bytes.getInteger(at: bytes.readerIndex + 5, endianness: .little, as: UInt32.self),
            let size = bytes.getInteger(at: bytes.readerIndex + 9, endianness: .little, as: UInt32.self),
            let endPosition = bytes.getInteger(at: bytes.readerIndex + 13, endianness: .little, as: UInt32.self),
            let flags = bytes.getInteger(at: bytes.readerIndex + 17, endianness: .little, as: UInt16.self)
        else { throw MySQLError.protocolViolation("binlog event shorter than its header") }
        guard Int(size) == bytes.readableBytes else {
            throw MySQLError.protocolViolation("binlog event of \(bytes.readableBytes) bytes says it has \(size)")
        }
        self.bytes = bytes
        self.timestamp = timestamp
        self.type = type
        self.serverID = serverID
        self.size = size
        self.endPosition = endPosition
        self.flags = flags
    }

    package var isArtificial: Bool { self.flags & Self.artificialFlag != 0 || self.endPosition == 0 }

    /// The file a rotate event names (the body is the position u64, then the name; a checksum may follow).
    /// - Parameter checksummed: whether the stream carries CRC32 trailers.
    package func rotateTarget(checksummed: Bool) -> (file: String, position: UInt64)? {
        guard self.type == Kind.rotate else { return nil }
        let start = self.bytes.readerIndex + Self.headerSize
        let end = self.bytes.readerIndex + Int(self.size) - (checksummed ? 4 : 0)
        guard end - start > 8, let position = self.bytes.getInteger(at: start, endianness: .little, as: UInt64.self),
            let name = self.bytes.getString(at: start + 8, length: end - start - 8)
        else { return nil }
        return (name, position)
    }

    /// `domain-server-sequence` of a MariaDB GTID event.
    package var mariadbGTID: String? {
        guard self.type == Kind.mariadbGTID else { return nil }
        let start = self.bytes.readerIndex + Self.headerSize
        guard let sequence = self.bytes.getInteger(at: start, endianness: .little, as: UInt64.self),
            let domain = self.bytes.getInteger(at: start + 8, endianness: .little, as: UInt32.self)
        else { return nil }
        return "\(domain)-\(self.serverID)-\(sequence)"
    }
}
