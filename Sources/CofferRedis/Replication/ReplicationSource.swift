import NIOCore

/// The RDB payload of a `SYNC`, read chunk by chunk from the connection: written to the sink as it
/// is consumed, checksummed, and handed byte by byte to the RDB scanner.
///
/// Chunks come from a closure rather than the connection itself, so that the same scanner checks an
/// RDB held in memory (``RDBScanner/scan(_:chunkSize:)``).
///
/// Memory stays flat: only the chunk in hand is held. Bytes go to the sink once the scanner has
/// consumed them, so the sink receives exactly the RDB (no framing, no `$EOF:` mark) and nothing
/// past a failure point.
struct ReplicationSource {
    typealias Sink = (ByteBuffer) async throws -> Void
    /// The next chunk of bytes; nil or an error at the end of the stream.
    typealias Chunks = () async throws -> ByteBuffer?

    let nextChunk: Chunks
    let sink: Sink
    let progress: (SnapshotProgress) -> Void

    /// The chunk being consumed; bytes before `flushedIndex` were already written to the sink. Readable by the
    /// walker's buffered fast path, which moves through it only with ``consumeBuffered(_:)``.
    private(set) var buffer = ByteBuffer()
    private var flushedIndex = 0
    /// `$<length>` framing: payload bytes not yet taken from the connection. Nil for `$EOF:`.
    var remainingLength: Int64?
    var totalLength: Int64?
    /// Payload bytes consumed so far.
    private(set) var consumed: Int64 = 0
    /// Payload bytes written to the sink so far.
    private(set) var written: Int64 = 0
    private var crc = CRC64()
    /// Offset just past the RDB's `0xFF` byte, once seen: the checksum covers everything before it.
    var checksumEnd: Int64?
    /// Whether sink writes are on: off while reading the framing and the trailing mark.
    var recording = false

    var keysParsed = 0
    /// Capture mode (restores): where the bytes being captured start in `buffer`, while a capture runs, so a
    /// record's value comes out as the exact bytes the walker stepped over: a slice of the chunk (no copy)
    /// when the record lies inside one chunk, as most do. Nil (the default) costs nothing.
    private var captureStart: Int?
    /// The captured bytes of earlier chunks, when the record being captured straddles chunk boundaries.
    private var captured: ByteBuffer?
    var keysTotalPerDatabase: [Int: Int] = [:]
    private var lastReport = ContinuousClock.now

    init(nextChunk: @escaping Chunks, sink: @escaping Sink, progress: @escaping (SnapshotProgress) -> Void) {
        self.nextChunk = nextChunk
        self.sink = sink
        self.progress = progress
    }

    /// The checksum of the bytes before `checksumEnd`.
    var checksum: UInt64 { self.crc.value }

    // MARK: - Reading

    // Each read takes its bytes straight from the chunk in hand when it holds them (nearly always), so the walk
    // costs no async call and no allocation per byte; only a read that crosses into the next chunk takes the
    // slow path, which awaits the connection or the file.

    @inline(__always)
    mutating func readByte() async throws -> UInt8 {
        if let byte = self.buffer.readInteger(as: UInt8.self) {
            self.consumed += 1
            return byte
        }
        return try await self.read(1)[0]
    }

    /// Reads a fixed-width integer stored with `endianness` (expiry times, lengths, stream fields).
    @inline(__always)
    mutating func readInteger<Integer: FixedWidthInteger>(endianness: Endianness, as: Integer.Type = Integer.self) async throws -> Integer {
        if let value = self.buffer.readInteger(endianness: endianness, as: Integer.self) {
            self.consumed += Int64(MemoryLayout<Integer>.size)
            return value
        }
        let bytes = try await self.read(MemoryLayout<Integer>.size)
        let ordered: [UInt8] = endianness == .little ? bytes.reversed() : bytes
        return ordered.reduce(Integer.zero) { $0 << 8 | Integer($1) }
    }

    /// Reads `count` bytes (small reads: headers, marks, and integers that straddle chunks).
    mutating func read(_ count: Int) async throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        while out.count < count {
            if self.buffer.readableBytes == 0 { try await self.refill() }
            let n = min(count - out.count, self.buffer.readableBytes)
            out += self.buffer.readBytes(length: n)!
            self.consumed += Int64(n)
        }
        return out
    }

    /// Reads `count` bytes into a buffer (a key, a function's source: sizes the format allows to be large):
    /// a slice of the chunk in hand when it holds them all, else a buffer of their own.
    @inline(__always)
    mutating func readBuffer(_ count: Int) async throws -> ByteBuffer {
        if let slice = self.buffer.readSlice(length: count) {
            self.consumed += Int64(count)
            return slice
        }
        return try await self.readBufferAcrossChunks(count)
    }

    private mutating func readBufferAcrossChunks(_ count: Int) async throws -> ByteBuffer {
        var out = ByteBuffer()
        out.reserveCapacity(count)
        while out.readableBytes < count {
            if self.buffer.readableBytes == 0 { try await self.refill() }
            var slice = self.buffer.readSlice(length: min(count - out.readableBytes, self.buffer.readableBytes))!
            self.consumed += Int64(slice.readableBytes)
            out.writeBuffer(&slice)
        }
        return out
    }

    /// Skips `count` bytes without holding them (large values).
    @inline(__always)
    mutating func skip(_ count: Int) async throws {
        if count <= self.buffer.readableBytes {
            self.buffer.moveReaderIndex(forwardBy: count)
            self.consumed += Int64(count)
            return
        }
        try await self.skipAcrossChunks(count)
    }

    private mutating func skipAcrossChunks(_ count: Int) async throws {
        var left = count
        while left > 0 {
            if self.buffer.readableBytes == 0 { try await self.refill() }
            let n = min(left, self.buffer.readableBytes)
            self.buffer.moveReaderIndex(forwardBy: n)
            self.consumed += Int64(n)
            left -= n
        }
    }

    /// Consumes `count` bytes of the chunk in hand, which the caller has checked it holds.
    @inline(__always)
    mutating func consumeBuffered(_ count: Int) {
        self.buffer.moveReaderIndex(forwardBy: count)
        self.consumed += Int64(count)
    }

    /// Starts capturing: the bytes consumed from here to ``endCapture()`` come out as one buffer.
    mutating func startCapture() {
        self.captureStart = self.buffer.readerIndex
        self.captured = nil
    }

    /// The bytes consumed since ``startCapture()``, and the capture ends.
    mutating func endCapture() -> ByteBuffer {
        let tail = self.consumedSince(self.captureStart ?? self.buffer.readerIndex)
        self.captureStart = nil
        defer { self.captured = nil }
        guard var whole = self.captured else { return tail }
        whole.writeImmutableBuffer(tail)
        return whole
    }

    /// The bytes of the chunk in hand from `index` to the reader index, same storage, no copy (the checked
    /// accessors refuse to reach bytes before readerIndex, so move the indices of a copy of the struct instead).
    private func consumedSince(_ index: Int) -> ByteBuffer {
        var bytes = self.buffer
        bytes.moveReaderIndex(to: index)
        bytes.moveWriterIndex(to: self.buffer.readerIndex)
        return bytes
    }

    /// Reads a framing line up to `\r\n`, after discarding the `\n` keep-alives the master sends while
    /// it prepares the snapshot.
    mutating func readHeaderLine() async throws -> String {
        var line: [UInt8] = []
        while true {
            let byte = try await self.readByte()
            if line.isEmpty && byte == UInt8(ascii: "\n") { continue }
            if byte == UInt8(ascii: "\n"), line.last == UInt8(ascii: "\r") {
                line.removeLast()
                return String(decoding: line, as: UTF8.self)
            }
            line.append(byte)
            if line.count > 1024 { throw RedisError.protocolViolation("replication header line longer than 1024 bytes") }
        }
    }

    /// Starts recording: from here on consumed bytes are RDB payload. Resets the byte counters.
    mutating func startPayload(length: Int64?) {
        self.flushedIndex = self.buffer.readerIndex
        self.consumed = 0
        self.totalLength = length
        if let length {
            // Bytes already buffered past the header count against the length.
            let buffered = Int64(self.buffer.readableBytes)
            if buffered > length {
                self.buffer = self.buffer.getSlice(at: self.buffer.readerIndex, length: Int(length))!
                self.flushedIndex = self.buffer.readerIndex
                self.remainingLength = 0
            } else {
                self.remainingLength = length - buffered
            }
        }
        self.recording = true
    }

    /// Writes what was consumed and not yet written, then stops recording.
    mutating func finishPayload() async throws {
        try await self.flush()
        self.recording = false
    }

    // MARK: - Internals

    private mutating func flush() async throws {
        guard self.recording else {
            self.flushedIndex = self.buffer.readerIndex
            return
        }
        let count = self.buffer.readerIndex - self.flushedIndex
        guard count > 0 else { return }
        let start = self.written
        let bytes = self.consumedSince(self.flushedIndex)
        // Checksum everything before the end mark; the 8 checksum bytes themselves are excluded.
        let limit = self.checksumEnd.map { max(0, min(Int64(count), $0 - start)) } ?? Int64(count)
        if limit > 0 {
            bytes.withUnsafeReadableBytes { self.crc.update(UnsafeRawBufferPointer(rebasing: $0[0..<Int(limit)])) }
        }
        try await self.sink(bytes)
        self.written += Int64(count)
        self.flushedIndex = self.buffer.readerIndex
    }

    private mutating func refill() async throws {
        try await self.flush()
        if let start = self.captureStart {
            // The record goes on in the next chunk: keep its part in this one.
            let part = self.consumedSince(start)
            if self.captured == nil { self.captured = ByteBuffer() }
            self.captured?.writeImmutableBuffer(part)
        }
        if let remaining = self.remainingLength, remaining <= 0 {
            throw RedisError.protocolViolation("the RDB payload ended before the RDB did (announced length too short or corrupt data)")
        }
        guard var chunk = try await self.nextChunk() else {
            throw RedisError.connectionClosed
        }
        if let remaining = self.remainingLength {
            if Int64(chunk.readableBytes) > remaining {
                // After the announced length comes the replication stream (no rdb-only): not ours.
                chunk = chunk.getSlice(at: chunk.readerIndex, length: Int(remaining))!
            }
            self.remainingLength = remaining - Int64(chunk.readableBytes)
        }
        self.buffer = chunk
        self.flushedIndex = chunk.readerIndex
        if self.captureStart != nil { self.captureStart = chunk.readerIndex }
        self.report(force: false)
    }

    /// Calls the progress callback at most every 250 ms (and when forced).
    mutating func report(force: Bool) {
        guard self.recording else { return }
        let now = ContinuousClock.now
        guard force || now - self.lastReport >= .milliseconds(250) else { return }
        self.lastReport = now
        let total = self.keysTotalPerDatabase.isEmpty ? nil : self.keysTotalPerDatabase.values.reduce(0, +)
        self.progress(SnapshotProgress(bytes: self.consumed, totalBytes: self.totalLength, keysParsed: self.keysParsed, keysTotal: total))
    }
}
