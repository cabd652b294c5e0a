import NIOCore

/// Reads an RDB (a backup file, a safety snapshot) one key record or function at a time, for a restore.
///
/// The same walker as a backup's pull (``ReplicationSource`` and `RDBScanner.swift`) in capture mode: the
/// format rules, the end and the CRC-64 check are those a backup met when it was taken. Memory: one record
/// (its key and raw value bytes) plus the chunk in hand, whatever the file's size.
package struct RDBRecordReader {
    /// What the reader yields.
    package enum Item: Sendable {
        case record(RDBRecord)
        /// A function library's source (`#!lua name=…`), for `FUNCTION LOAD`.
        case function(ByteBuffer)
    }

    private var source: ReplicationSource
    private var walk: RDBWalk?
    private var finished: RDBScanResult?

    /// - Parameter nextChunk: the file's bytes in order; nil at the end.
    package init(nextChunk: @escaping () async throws -> ByteBuffer?) {
        self.source = ReplicationSource(nextChunk: nextChunk, sink: { _ in }, progress: { _ in })
        self.source.startPayload(length: nil)
    }

    /// The RDB format version (`REDIS0011` → 11), known once the first item was read.
    package var version: Int? { self.walk?.version }

    /// Bytes of the file consumed so far (progress).
    package var bytesRead: Int64 { self.source.consumed }

    /// What the walk found, once ``next()`` returned nil: key counts and whether the CRC was verified.
    package var result: RDBScanResult? { self.finished }

    /// The next key record when it can be read from the bytes already in hand, without awaiting: nearly every
    /// record of small keys. Nil when ``next()`` must take the next item (a record across chunks, a function, a
    /// value of several strings, the end, or the start of the file).
    package mutating func nextBuffered() throws -> RDBRecord? {
        guard self.finished == nil, var walk = self.walk else { return nil }
        self.walk = nil
        defer { self.walk = walk }
        return try self.source.nextBufferedRecord(&walk)
    }

    /// The next key record or function; nil after the end of the file, whose CRC-64 was then verified. Takes the
    /// record from the chunk in hand when it can (``nextBuffered()``), else by the awaiting walk.
    /// - Throws: ``RedisError/protocolViolation(_:)`` at the first malformed byte or a checksum mismatch, and
    ///   whatever the chunk source throws.
    package mutating func next() async throws -> Item? {
        if let record = try self.nextBuffered() { return .record(record) }
        if self.finished != nil { return nil }
        // Taken out while in use, so that its key counts are not copied on write for every record.
        var walk: RDBWalk
        if let current = self.walk {
            walk = current
            self.walk = nil
        } else {
            walk = try await self.source.beginRDB()
        }
        defer { self.walk = walk }
        while true {
            switch try await self.source.nextRDBItem(&walk, capture: true) {
            case .record(let record): return .record(record)
            case .function(let source): return .function(source)
            case .skipped: continue  // only a walk without capture skips
            case .end(let result):
                self.finished = result
                return nil
            }
        }
    }
}
