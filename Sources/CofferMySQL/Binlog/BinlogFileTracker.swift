import NIOCore

/// Turns a dump's event stream into the bytes of the server's files, and checks that nothing is lost or repeated.
///
/// Every event of a file says where it ends (`endPosition`); an event is appended only when it ends exactly `size`
/// bytes after the cursor, so a skipped or repeated event is a protocol violation rather than a silent hole. What
/// the dump thread makes up (the rotate naming the file it starts from, heartbeats, the format description it
/// resends when a dump starts mid-file) is skipped. A file ends at its rotate event, or when the dump moves on to
/// another file without one (a server that crashed or restarted starts a new file).
package struct BinlogFileTracker: Sendable {
    package enum Step: Sendable {
        /// These bytes are the file's, at the cursor's position before the step.
        case append(BinlogEvent)
        /// The current file is complete; the archive continues with `next`.
        case fileEnded(next: String)
    }

    /// The file being archived, and the offset in it up to which every byte is accounted for (4 = just the magic).
    package private(set) var file: String
    package private(set) var position: UInt64
    let isChecksummed: Bool

    package init(file: String, position: UInt64, isChecksummed: Bool) {
        self.file = file
        self.position = max(4, position)
        self.isChecksummed = isChecksummed
    }

    /// What `event` means for the archive; empty when it is to be skipped.
    package mutating func accept(_ event: BinlogEvent) throws -> [Step] {
        if event.type == BinlogEvent.Kind.heartbeat { return [] }
        if event.type == BinlogEvent.Kind.rotate, event.isArtificial {
            guard let target = event.rotateTarget(checksummed: self.isChecksummed) else {
                throw MySQLError.protocolViolation("unreadable rotate event")
            }
            if target.file == self.file { return [] }
            // The dump moved on without a rotate event in the file we were reading: that file ended where we stand.
            self.file = target.file
            self.position = max(4, target.position)
            return [.fileEnded(next: target.file)]
        }
        if event.type == BinlogEvent.Kind.formatDescription, self.position != 4 {
            return []  // resent at the start of a dump that resumes mid-file
        }
        if event.isArtificial { return [] }
        let expected = self.position + UInt64(event.size)
        guard UInt64(event.endPosition) == expected else {
            throw MySQLError.protocolViolation(
                "event of type \(event.type) ends at \(event.endPosition), expected \(expected) in \(self.file)")
        }
        self.position = expected
        if event.type == BinlogEvent.Kind.rotate, let target = event.rotateTarget(checksummed: self.isChecksummed) {
            self.file = target.file
            self.position = max(4, target.position)
            return [.append(event), .fileEnded(next: target.file)]
        }
        return [.append(event)]
    }
}
