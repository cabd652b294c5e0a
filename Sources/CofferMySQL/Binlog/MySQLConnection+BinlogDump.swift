import NIOCore

extension MySQLConnection {
    /// What a connection must know before it can follow a binary log.
    package struct BinlogSource: Sendable, Equatable {
        /// `@@log_bin`: whether the server writes a binary log at all.
        package var isLogging: Bool
        /// Whether events carry a CRC32 trailer (`@@binlog_checksum` is not `NONE`).
        package var isChecksummed: Bool
        /// `SHOW BINARY LOGS`, oldest first: file name and size.
        package var files: [(name: String, size: UInt64)]

        package static func == (lhs: Self, rhs: Self) -> Bool {
            lhs.isLogging == rhs.isLogging && lhs.isChecksummed == rhs.isChecksummed
                && lhs.files.map(\.name) == rhs.files.map(\.name) && lhs.files.map(\.size) == rhs.files.map(\.size)
        }
    }

    /// Reads whether the server logs, whether it checksums, and which binlog files it still has.
    package func binlogSource() async throws -> BinlogSource {
        let settings = try await self.query("SELECT @@global.log_bin, @@global.binlog_checksum")
        let logging = settings.rows.first?[0].map { $0 == "1" || $0.uppercased() == "ON" } ?? false
        let checksummed = (settings.rows.first?[1] ?? "NONE")?.uppercased() != "NONE"
        guard logging else { return BinlogSource(isLogging: false, isChecksummed: checksummed, files: []) }
        let logs = try await self.query("SHOW BINARY LOGS")
        let files = logs.rows.compactMap { row -> (name: String, size: UInt64)? in
            guard let name = row.first ?? nil else { return nil }
            return (name, row.count > 1 ? UInt64(row[1] ?? "") ?? 0 : 0)
        }
        return BinlogSource(isLogging: true, isChecksummed: checksummed, files: files)
    }

    /// Turns this connection into a replica's binlog dump from `file` at `position` (`COM_BINLOG_DUMP`).
    ///
    /// Declares checksum awareness (events then arrive with their CRC exactly as stored), MariaDB capability 4 (real
    /// GTID events rather than dummies) and a heartbeat period, so a silent server is told from a dead link. After
    /// this call the connection carries only events: read them with `nextBinlogEvent(timeout:)`.
    /// - Parameters:
    ///   - serverID: the replica id the server sees (must differ from every real replica's).
    ///   - heartbeat: how often an idle server sends a heartbeat event.
    package func startBinlogDump(file: String, position: UInt32, serverID: UInt32, heartbeat: Duration) async throws {
        try await self.query("SET @master_binlog_checksum = @@global.binlog_checksum")
        try await self.query("SET @mariadb_slave_capability = 4")
        let nanoseconds = heartbeat.components.seconds * 1_000_000_000 + heartbeat.components.attoseconds / 1_000_000_000
        try await self.query("SET @master_heartbeat_period = \(max(1_000_000, nanoseconds))")
        var packet = ByteBuffer()
        packet.writeInteger(UInt8(0x12))
        packet.writeInteger(position, endianness: .little)
        // MariaDB leaves `Annotate_rows` events (written before row events while `binlog_annotate_row_events` is
        // on, its default) out of a dump unless asked with BINLOG_SEND_ANNOTATE_ROWS_EVENT; without them the
        // stream skips bytes of the file and the archive is not the file (found by bench/ddm-restore, ROW format).
        // MySQL has no such flag and always sends its `Rows_query` events.
        let sendAnnotateRows: UInt16 = self.serverInfo.engineName == "mariadb" ? 0x02 : 0
        packet.writeInteger(sendAnnotateRows, endianness: .little)
        packet.writeInteger(serverID, endianness: .little)
        packet.writeString(file)
        try await self.send(packet, sequence: 0)
    }

    /// The next event of a dump started with `startBinlogDump`.
    /// - Parameter timeout: longest silence accepted (a few heartbeat periods); the socket is closed after it.
    /// - Throws: `MySQLError.server` for the dump's `ERR` (1236: the file or position is gone), `.timedOut`,
    ///   `.connectionClosed` (the server ended the dump, e.g. the thread was killed).
    package func nextBinlogEvent(timeout: Duration) async throws -> BinlogEvent {
        let channel = self.channel
        let expired = ExpiryFlag()
        let timer = channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
            expired.fire()
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        var packet: ByteBuffer
        do {
            packet = try await self.readPacket()
            // A payload of 2^24-1 bytes continues in the next packet (row events of big transactions).
            var last = packet.readableBytes
            while last == 0xFF_FFFF {
                var next = try await self.readPacket()
                last = next.readableBytes
                packet.writeBuffer(&next)
            }
        } catch {
            self.fail()
            if expired.hasFired { throw MySQLError.timedOut("no binlog event nor heartbeat within \(timeout)") }
            if error is CancellationError { throw error }
            throw MySQLError.connectionClosed
        }
        switch packet.readableBytesView.first {
        case 0x00:
            return try BinlogEvent(packet.getSlice(at: packet.readerIndex + 1, length: packet.readableBytes - 1) ?? ByteBuffer())
        case 0xFF:
            self.fail()
            throw MySQLWire.error(from: packet)
        default:
            self.fail()
            throw MySQLError.connectionClosed
        }
    }
}
