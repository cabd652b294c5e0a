import CofferCore
import CofferMySQL
import Foundation
import Logging
import NIOCore

/// Streams one data node's binary log into the blob store, as a replica would (`COM_BINLOG_DUMP`), from exactly
/// where the archive stands (`BinlogNodeStatus.cursor`), and records each published segment.
///
/// Bytes of the file being written go to a temporary blob; a segment is published (blob committed, then recorded
/// with the cursor in one conditional transaction) when the server rotates, every `segmentInterval`, when the
/// connection drops and when the archiver is stopped. A crash loses only the unpublished tail, which the next run
/// streams again from the recorded cursor, so nothing is archived twice and nothing is skipped: the tracker refuses
/// any event that does not start where the previous one ended. Binlogs the server purged before they were archived
/// are recorded as a gap, never skipped silently.
package struct BinlogArchiver: Sendable {
    package struct Settings: Sendable {
        /// Longest time the archive of an open file lags behind the server.
        package var segmentInterval: Duration = .seconds(60)
        /// A segment is also published once it holds this many bytes.
        package var segmentBytes: Int = 64 << 20
        /// Heartbeat period asked of the server; three missed heartbeats mean a dead link.
        package var heartbeat: Duration = .seconds(5)
        /// Pause after a failed session (unreachable node, refused dump) before the next.
        package var retryDelay: Duration = .seconds(5)
        /// How often a node without binary log is looked at again.
        package var recheckInterval: Duration = .seconds(300)

        package init() {}
    }

    /// A node to archive and the account to stream with (it needs `REPLICATION SLAVE`).
    package struct Node: Sendable, Equatable {
        package var id: String
        package var projectID: String
        package var endpoint: MySQLEndpoint

        package init(id: String, projectID: String, endpoint: MySQLEndpoint) {
            self.id = id
            self.projectID = projectID
            self.endpoint = endpoint
        }
    }

    /// The archive's lease moved to another server: this one must stop.
    package struct LeaseLost: Error {}

    let store: any BinlogArchiveStore
    let blobs: any BlobStore
    let settings: Settings
    let owner: String
    let logger: Logger
    let clock: @Sendable () -> Date

    package init(
        store: any BinlogArchiveStore, blobs: any BlobStore, settings: Settings, owner: String, logger: Logger,
        clock: @escaping @Sendable () -> Date
    ) {
        self.store = store
        self.blobs = blobs
        self.settings = settings
        self.owner = owner
        self.logger = logger
        self.clock = clock
    }

    /// Archives `node` until cancelled (the caller holds its lease), one session after another.
    package func run(_ node: Node) async {
        var logger = self.logger
        logger[metadataKey: "ddm.node.id"] = "\(node.id)"
        while !Task.isCancelled {
            let pause: Duration
            do {
                pause = try await self.session(node, logger: logger)
            } catch is LeaseLost {
                logger.warning("Binlog archive lease lost; another server archives this node")
                return
            } catch {
                if Task.isCancelled { return }
                logger.warning("Binlog archive session ended", metadata: ["error": "\(error)"])
                _ = try? await self.store.setState(nodeID: node.id, owner: self.owner, state: .failing, detail: "\(error)", now: self.clock())
                pause = self.settings.retryDelay
            }
            try? await Task.sleep(for: pause)
        }
    }

    /// One connection: checks the server, records a gap if the cursor's file is gone, then streams until the link
    /// drops or the task is cancelled. Returns how long to wait before the next session.
    func session(_ node: Node, logger: Logger) async throws -> Duration {
        let connection = try await MySQLConnection.connect(to: node.endpoint, timeout: .seconds(10), logger: logger)
        defer { connection.abort() }
        let source = try await connection.binlogSource()
        guard source.isLogging else {
            guard try await self.store.setState(nodeID: node.id, owner: self.owner, state: .noBinlog, detail: "log_bin is OFF", now: self.clock())
            else { throw LeaseLost() }
            return self.settings.recheckInterval
        }
        guard let oldest = source.files.first else { throw MySQLError.protocolViolation("SHOW BINARY LOGS lists no file") }
        var cursor = try await self.store.status(nodeID: node.id)?.cursor ?? .start(of: oldest.name)
        let existing = try await self.store.segments(nodeID: node.id)
        var sequence = existing.last?.sequence ?? 0
        if let reason = Self.missing(cursor, in: source.files) {
            let next = source.files.first { $0.name > cursor.file } ?? oldest
            let gap = BinlogGap(
                nodeID: node.id, from: cursor, fromEventAt: existing.last?.lastEventAt, to: .start(of: next.name), reason: reason,
                detectedAt: self.clock())
            guard try await self.store.recordGap(gap, owner: self.owner, now: self.clock()) else { throw LeaseLost() }
            logger.error("Binlog archive gap: the server no longer has what was not archived", metadata: ["from": "\(gap.from)", "to": "\(gap.to)"])
            cursor = gap.to
        }
        guard try await self.store.setState(nodeID: node.id, owner: self.owner, state: .archiving, detail: nil, now: self.clock()) else {
            throw LeaseLost()
        }
        guard let position = UInt32(exactly: cursor.position) else { throw MySQLError.protocolViolation("binlog position \(cursor.position)") }
        try await connection.startBinlogDump(
            file: cursor.file, position: position, serverID: UInt32.random(in: 0x4000_0000...0x7FFF_FFFF), heartbeat: self.settings.heartbeat)
        logger.info("Binlog archive streaming", metadata: ["from": "\(cursor)"])

        var tracker = BinlogFileTracker(file: cursor.file, position: cursor.position, isChecksummed: source.isChecksummed)
        var pending: PendingSegment?
        let silence = self.settings.heartbeat * 3 + .seconds(2)
        do {
            while true {
                try Task.checkCancellation()
                let event = try await connection.nextBinlogEvent(timeout: silence)
                let before = (file: tracker.file, position: tracker.position)
                for step in try tracker.accept(event) {
                    switch step {
                    case .append(let event):
                        if pending == nil {
                            sequence += 1
                            pending = try await PendingSegment.open(
                                blobs: self.blobs, nodeID: node.id, sequence: sequence, file: before.file, start: before.position)
                        }
                        try await pending?.append(event)
                    case .fileEnded(let next):
                        if pending == nil {
                            // The file ended with nothing left to archive (the dump moved on without a rotate event).
                            sequence += 1
                            pending = try await PendingSegment.open(
                                blobs: self.blobs, nodeID: node.id, sequence: sequence, file: before.file, start: before.position)
                        }
                        try await self.publish(&pending, closesFile: true, next: .start(of: next))
                    }
                }
                if let open = pending,
                    open.bytes >= self.settings.segmentBytes || ContinuousClock.now - open.openedAt >= self.settings.segmentInterval
                {
                    try await self.publish(&pending, closesFile: false, next: BinlogCursor(file: tracker.file, position: tracker.position))
                }
            }
        } catch {
            // Whole events only were appended: publish them, whatever ended the stream, so the next session resumes there.
            let cursorNow = BinlogCursor(file: tracker.file, position: tracker.position)
            let publishing = pending
            let outcome = await Task { [self] in
                var remaining = publishing
                do {
                    try await self.publish(&remaining, closesFile: false, next: cursorNow)
                    return nil as (any Error)?
                } catch {
                    await remaining?.writer.abort()
                    return error
                }
            }.value
            if outcome is LeaseLost { throw LeaseLost() }
            if let outcome { logger.warning("Publishing the last binlog segment failed", metadata: ["error": "\(outcome)"]) }
            throw error
        }
    }

    /// Commits the pending segment and records it with the cursor that follows it.
    private func publish(_ pending: inout PendingSegment?, closesFile: Bool, next: BinlogCursor) async throws {
        guard let segment = pending else { return }
        pending = nil
        let info: BlobInfo
        do {
            info = try await segment.writer.commit()
        } catch {
            await segment.writer.abort()
            throw error
        }
        // Every appended event is counted only once written; a write cut short (cancellation, disk) shows here, and
        // such a segment is dropped rather than recorded with a length its bytes do not have.
        let expected = Int64(segment.bytes) + (segment.start == 4 ? 4 : 0)
        guard info.size == expected else {
            try? await self.blobs.delete(key: info.key)
            throw MySQLError.protocolViolation("segment of \(segment.file) holds \(info.size) bytes, expected \(expected)")
        }
        let record = BinlogSegment(
            nodeID: segment.nodeID, sequence: segment.sequence, file: segment.file, startPosition: segment.start == 4 ? 0 : segment.start,
            endPosition: segment.start + UInt64(segment.bytes), blobKey: info.key, size: info.size, sha256: info.sha256,
            firstEventAt: segment.firstEventAt, lastEventAt: segment.lastEventAt, lastGTID: segment.lastGTID, closesFile: closesFile,
            createdAt: self.clock())
        self.logger.debug("Publishing binlog segment", metadata: ["file": "\(record.file)", "start": "\(record.startPosition)", "end": "\(record.endPosition)", "next": "\(next)"])
        guard try await self.store.appendSegment(record, cursor: next, owner: self.owner, now: self.clock()) else {
            try? await self.blobs.delete(key: info.key)
            throw LeaseLost()
        }
    }

    /// Why the archive cannot continue at `cursor` on a server that has `files`, or nil when it can.
    static func missing(_ cursor: BinlogCursor, in files: [(name: String, size: UInt64)]) -> String? {
        guard let file = files.first(where: { $0.name == cursor.file }) else {
            return "\(cursor.file) was purged from the server before it was archived"
        }
        if file.size < cursor.position { return "\(cursor.file) is shorter than what was archived (the server was reset)" }
        return nil
    }

    /// Blob key of a segment; the random tail keeps a crashed writer's leftover from blocking the key.
    static func blobKey(nodeID: String, file: String, start: UInt64) -> String {
        let offset = String(start)
        return "binlog/\(nodeID)/\(file)/" + String(repeating: "0", count: max(0, 12 - offset.count)) + offset + "-"
            + Identifiers.uuid().prefix(8)
    }
}

/// A segment being written: its temporary blob, its first byte in the file, and what the record will say.
struct PendingSegment: Sendable {
    static let magic: [UInt8] = [0xFE, 0x62, 0x69, 0x6E]

    let writer: any BlobWriter
    let nodeID: String
    let sequence: Int64
    let file: String
    /// Offset in the file of the first event (4 when the segment starts the file and holds the magic).
    let start: UInt64
    let openedAt: ContinuousClock.Instant
    /// Event bytes appended (the magic not counted).
    var bytes = 0
    var firstEventAt: Date?
    var lastEventAt: Date?
    var lastGTID: String?

    static func open(blobs: any BlobStore, nodeID: String, sequence: Int64, file: String, start: UInt64) async throws -> PendingSegment {
        let writer = try await blobs.makeWriter(key: BinlogArchiver.blobKey(nodeID: nodeID, file: file, start: start))
        if start == 4 { try await writer.write(contentsOf: Self.magic) }
        return PendingSegment(writer: writer, nodeID: nodeID, sequence: sequence, file: file, start: start, openedAt: .now)
    }

    mutating func append(_ event: BinlogEvent) async throws {
        try await self.writer.write(event.bytes)
        self.bytes += Int(event.size)
        let time = Date(timeIntervalSince1970: TimeInterval(event.timestamp))
        if self.firstEventAt == nil { self.firstEventAt = time }
        self.lastEventAt = time
        if let gtid = event.mariadbGTID { self.lastGTID = gtid }
    }
}
