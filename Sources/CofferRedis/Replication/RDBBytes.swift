import NIOCore

/// The readable bytes of a chunk, addressed by the chunk's own `ByteBuffer` indices, for the scans that read
/// many small fields in a row (``RDBLength``, the buffered record walk).
///
/// Why: each `ByteBuffer.getInteger` reads the buffer's storage object, and in a release build every such read is
/// a dynamic exclusivity check (`swift_beginAccess`, about 3 % of a cluster backup's CPU with the calls around
/// it). One `withUnsafeReadableBytes` per chunk, then plain loads, does the same reads without them.
struct RDBBytes {
    private let raw: UnsafeRawBufferPointer
    /// The `ByteBuffer` index of `raw`'s first byte (the buffer's reader index).
    private let base: Int

    init(_ raw: UnsafeRawBufferPointer, base: Int) {
        self.raw = raw
        self.base = base
    }

    /// Runs `body` over `buffer`'s readable bytes.
    static func reading<R>(_ buffer: ByteBuffer, _ body: (RDBBytes) throws -> R) rethrows -> R {
        try buffer.withUnsafeReadableBytes { try body(RDBBytes($0, base: buffer.readerIndex)) }
    }

    /// One past the last byte, as a buffer index (the buffer's writer index).
    var end: Int { self.base + self.raw.count }

    /// The byte at buffer index `index`, or nil outside the readable bytes.
    @inline(__always)
    func byte(at index: Int) -> UInt8? {
        let offset = index - self.base
        guard offset >= 0, offset < self.raw.count else { return nil }
        return self.raw[offset]
    }

    /// The little-endian integer at buffer index `index`, or nil when it does not lie whole in the readable bytes.
    @inline(__always)
    func littleEndian<T: FixedWidthInteger>(at index: Int, as: T.Type) -> T? {
        let offset = index - self.base
        guard offset >= 0, offset + MemoryLayout<T>.size <= self.raw.count else { return nil }
        return T(littleEndian: self.raw.loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}
